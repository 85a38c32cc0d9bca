import { useState } from 'preact/hooks';
import { api, type DeadLetterQueue, type RedriveManyResult } from '../api';
import { StatusBadge } from '../components/badges';
import { Modal } from '../components/modal';
import { PageHeader } from '../components/page';
import { TableWrap } from '../components/table';
import { toast } from '../components/toasts';
import { ago, dateTime, plural, shortId } from '../format';
import { useNow, usePolling } from '../hooks';
import { linkProps } from '../router';
import type { DeadLetter } from '../types';

const EVERY_MS = 3_000;
const QUEUES: Array<[DeadLetterQueue | '', string]> = [
  ['', 'All queues'],
  ['tasks', 'tasks'],
  ['task_intake', 'task_intake'],
];

type Result = RedriveManyResult['items'][number] & { queue: DeadLetterQueue };

/** Messages that will never be handled as they are: listed by queue, redriven or discarded, one or many at once. */
export function DeadLettersView({ live }: { live: boolean }) {
  const [queue, setQueue] = useState<DeadLetterQueue | ''>('');
  const list = usePolling(() => api.deadLetters(queue), [queue], EVERY_MS, live);
  const now = useNow();
  const [selected, setSelected] = useState<Map<string, DeadLetter>>(new Map());
  const [busy, setBusy] = useState('');
  const [discarding, setDiscarding] = useState<DeadLetter>();
  const [confirming, setConfirming] = useState(false);
  const [results, setResults] = useState<Result[]>();

  const items = list.data?.items ?? [];
  const toggle = (d: DeadLetter) => {
    const next = new Map(selected);
    if (next.has(d.id)) next.delete(d.id);
    else next.set(d.id, d);
    setSelected(next);
  };
  const allOnPage = items.length > 0 && items.every((d) => selected.has(d.id));

  const redriveOne = async (d: DeadLetter) => {
    setBusy(d.id);
    try {
      const res = await api.redriveDeadLetter(d.id);
      toast(
        'ok',
        res.task ? (
          <>
            Redriven: <a {...linkProps(`/tasks/${res.task.id}`)}>{res.task.title}</a> is {res.task.status.toLowerCase()}
          </>
        ) : (
          'Redriven: the message was published again'
        ),
      );
      forget([d.id]);
    } catch (err) {
      toast('error', `Redrive refused: ${(err as Error).message}`);
    } finally {
      setBusy('');
      await list.refresh();
    }
  };
  const forget = (ids: string[]) => {
    const next = new Map(selected);
    for (const id of ids) next.delete(id);
    setSelected(next);
  };

  return (
    <div class="stack">
      <PageHeader title="Dead letters" sub="Messages that will never be handled as they are: redrive them, or discard them." />
      <section class="card table-card">
        <div class="toolbar">
          <fieldset class="chips">
            <legend class="sr-only">Queue</legend>
            {QUEUES.map(([value, label]) => (
              <button
                type="button"
                key={label}
                class={`chip ${queue === value ? 'active' : ''}`}
                aria-pressed={queue === value}
                onClick={() => {
                  setQueue(value);
                  setSelected(new Map());
                }}
              >
                {label}
              </button>
            ))}
          </fieldset>
          <span class="spacer" />
          <span class="muted small" data-testid="dl-total">
            {list.data ? plural(list.data.total, 'dead letter') : ''}
          </span>
        </div>
        {selected.size > 0 && (
          <div class="bulkbar">
            <strong>{plural(selected.size, 'dead letter')} selected</strong>
            <button type="button" class="primary small" onClick={() => setConfirming(true)}>
              Redrive selected
            </button>
            <button type="button" class="ghost small" onClick={() => setSelected(new Map())}>
              Clear selection
            </button>
          </div>
        )}
        {!list.data ? (
          <p class="empty" role={list.error ? 'alert' : undefined}>
            {list.error ? `Could not load the dead letters: ${list.error.message}` : 'Loading…'}
          </p>
        ) : !items.length ? (
          <p class="empty">No dead letters{queue ? ` in ${queue}` : ''}.</p>
        ) : (
          <TableWrap label="Dead letters">
            <table class="tasks">
              <thead>
                <tr>
                  <th class="check">
                    <input
                      type="checkbox"
                      checked={allOnPage}
                      aria-label="Select every dead letter shown"
                      onChange={() => setSelected(allOnPage ? new Map() : new Map(items.map((d) => [d.id, d])))}
                    />
                  </th>
                  <th>Reason</th>
                  <th>Queue</th>
                  <th>Task</th>
                  <th>Failed</th>
                  <th class="num">Received</th>
                  <th class="actions-col">
                    <span class="sr-only">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {items.map((d) => (
                  <tr key={d.id} data-dead-letter-id={d.id} class={selected.has(d.id) ? 'selected' : ''}>
                    <td class="check">
                      <input
                        type="checkbox"
                        checked={selected.has(d.id)}
                        onChange={() => toggle(d)}
                        aria-label={`Select dead letter ${shortId(d.id)}`}
                      />
                    </td>
                    <td class="wrap-anywhere">
                      <div>{d.reason}</div>
                      <details class="dl-body">
                        <summary>Message body</summary>
                        <pre class="json">{pretty(d.body)}</pre>
                      </details>
                    </td>
                    <td>
                      <span class="type">{d.queue}</span>
                    </td>
                    <td class="nowrap">
                      {d.task_id ? <a {...linkProps(`/tasks/${d.task_id}`)}>{shortId(d.task_id)}</a> : <span class="muted">—</span>}
                    </td>
                    <td class="nowrap" title={dateTime(d.failed_at)}>
                      {ago(d.failed_at, now)}
                    </td>
                    <td class="num">{d.receive_count}</td>
                    <td class="actions-col">
                      <div class="row-actions">
                        <button type="button" class="small" disabled={busy === d.id} onClick={() => redriveOne(d)}>
                          Redrive
                        </button>
                        <button type="button" class="small danger-ghost" disabled={busy === d.id} onClick={() => setDiscarding(d)}>
                          Discard
                        </button>
                      </div>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableWrap>
        )}
      </section>
      {discarding && (
        <Modal
          title="Discard this dead letter?"
          onClose={() => setDiscarding(undefined)}
          footer={
            <>
              <button type="button" class="ghost" onClick={() => setDiscarding(undefined)}>
                Back
              </button>
              <button
                type="button"
                class="danger"
                onClick={async () => {
                  const d = discarding;
                  setDiscarding(undefined);
                  try {
                    await api.deleteDeadLetter(d.id);
                    toast('ok', 'Dead letter discarded');
                    forget([d.id]);
                  } catch (err) {
                    toast('error', `Discard refused: ${(err as Error).message}`);
                  }
                  await list.refresh();
                }}
              >
                Discard
              </button>
            </>
          }
        >
          <p>
            The message ({discarding.queue}: {discarding.reason}) is deleted for good; it will not be handled.
          </p>
        </Modal>
      )}
      {confirming && (
        <RedriveDialog
          letters={[...selected.values()]}
          onClose={() => setConfirming(false)}
          onDone={(r) => {
            setConfirming(false);
            setResults(r);
            forget(r.filter((x) => x.status === 200).map((x) => x.id));
            void list.refresh();
          }}
        />
      )}
      {results && <ResultsDialog results={results} onClose={() => setResults(undefined)} />}
    </div>
  );
}

const pretty = (body: string): string => {
  try {
    return JSON.stringify(JSON.parse(body), null, 2);
  } catch {
    return body;
  }
};

/** The confirmation of a redrive of many: how many of each queue are sent (one request per queue). */
function RedriveDialog(props: { letters: DeadLetter[]; onClose: () => void; onDone: (r: Result[]) => void }) {
  const byQueue = new Map<DeadLetterQueue, string[]>();
  for (const d of props.letters) byQueue.set(d.queue, [...(byQueue.get(d.queue) ?? []), d.id]);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const n = props.letters.length;
  const run = async () => {
    setBusy(true);
    const out: Result[] = [];
    try {
      for (const [queue, ids] of byQueue) {
        const res = await api.redriveDeadLetters(queue, ids);
        out.push(...res.items.map((i) => ({ ...i, queue })));
      }
      props.onDone(out);
    } catch (err) {
      setError((err as Error).message);
      setBusy(false);
    }
  };
  return (
    <Modal
      title={`Redrive ${plural(n, 'dead letter')}?`}
      onClose={props.onClose}
      footer={
        <>
          <button type="button" class="ghost" onClick={props.onClose}>
            Back
          </button>
          <button type="button" class="primary" disabled={busy} onClick={run}>
            {busy ? 'Redriving…' : `Redrive ${plural(n, 'dead letter')}`}
          </button>
        </>
      }
    >
      <ul data-testid="redrive-counts">
        {[...byQueue].map(([queue, ids]) => (
          <li key={queue}>
            {plural(ids.length, 'message')} of <code>{queue}</code>
          </li>
        ))}
      </ul>
      <p class="muted">
        A failed or cancelled task runs again with a fresh attempt budget; a message of task_intake is published again. A task that has
        completed cannot run again: its dead letter stays.
      </p>
      {error && <p class="form-error">{error}</p>}
    </Modal>
  );
}

function ResultsDialog({ results, onClose }: { results: Result[]; onClose: () => void }) {
  const ok = results.filter((r) => r.status === 200).length;
  return (
    <Modal
      title={`Redrive of ${plural(results.length, 'dead letter')}: results`}
      wide
      onClose={onClose}
      footer={
        <button type="button" class="primary" onClick={onClose}>
          Done
        </button>
      }
    >
      <div class="bulk-summary" data-testid="redrive-summary">
        <span class="pill">{ok} redriven</span>
        <span class="pill">{results.length - ok} refused</span>
      </div>
      <TableWrap label="Results">
        <table class="tasks compact">
          <thead>
            <tr>
              <th>Dead letter</th>
              <th>Queue</th>
              <th>Outcome</th>
              <th>Task</th>
            </tr>
          </thead>
          <tbody>
            {results.map((r) => (
              <tr key={r.id} data-result-id={r.id}>
                <td>
                  <code>{shortId(r.id)}</code>
                </td>
                <td>{r.queue}</td>
                <td class={r.status === 200 ? '' : 'error-text'}>
                  {r.status === 200 ? 'redriven' : `${r.status}: ${r.error ?? 'refused'}`}
                </td>
                <td>
                  {r.task ? (
                    <>
                      <a {...linkProps(`/tasks/${r.task.id}`, onClose)}>{r.task.title}</a> <StatusBadge status={r.task.status} />
                    </>
                  ) : (
                    <span class="muted">—</span>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </TableWrap>
    </Modal>
  );
}
