import { useState } from 'preact/hooks';
import { api } from '../api';
import { StatusBadge } from '../components/badges';
import { Modal } from '../components/modal';
import { plural, shortId, statusLabel } from '../format';
import { linkProps } from '../router';
import { type BulkActionResult, canCancel, canRetry, type TaskListItem } from '../types';

type Item = BulkActionResult['items'][number];
type Phase = { step: 'confirm' } | { step: 'running'; done: number } | { step: 'results'; items: Item[]; error?: string };

const CHUNK = 100;
const WORDS = {
  cancel: { verb: 'Cancel', done: 'cancelled', can: canCancel, skipped: 'already finished' },
  retry: { verb: 'Retry', done: 'queued again', can: canRetry, skipped: 'not failed or cancelled' },
} as const;

/**
 * The button of the confirmation: the tasks the action applies to, of those selected, and why the others are left
 * out ("Cancel 1 of 3 tasks (2 already finished)"), as their statuses were last seen.
 */
export function bulkLabel(action: 'cancel' | 'retry', tasks: readonly TaskListItem[]): { label: string; eligible: TaskListItem[] } {
  const words = WORDS[action];
  const eligible = tasks.filter((t) => words.can(t.status));
  const skipped = tasks.length - eligible.length;
  const label = skipped
    ? `${words.verb} ${eligible.length.toLocaleString()} of ${plural(tasks.length, 'task')} (${skipped.toLocaleString()} ${words.skipped})`
    : `${words.verb} ${plural(tasks.length, 'task')}`;
  return { label, eligible };
}

/** "the other task (already finished) will be left as it is", "the other 2 tasks (…) left as they were". */
function others(n: number, why: string, verb: 'will be left as' | 'left as'): string {
  const state = verb === 'left as' ? (n === 1 ? 'it was' : 'they were') : n === 1 ? 'it is' : 'they are';
  return `${n === 1 ? 'the other task' : `the other ${n.toLocaleString()} tasks`} (${why}) ${verb} ${state}`;
}

/**
 * Cancels or retries the selected tasks the action applies to through POST /api/v1/tasks/bulk (100 per request), then
 * shows what happened to each; the others are not sent. A task that moved since it was last seen is refused by the
 * service and shown so.
 */
export function BulkDialog(props: { action: 'cancel' | 'retry'; tasks: TaskListItem[]; onClose: (done: boolean) => void }) {
  const words = WORDS[props.action];
  const [phase, setPhase] = useState<Phase>({ step: 'confirm' });
  const [show, setShow] = useState<'all' | 'refused'>('all');
  // Counted once, when the dialog opens: the confirmation must not change under the pointer.
  const [{ label, eligible }] = useState(() => bulkLabel(props.action, props.tasks));
  const titles = new Map(props.tasks.map((t) => [t.id, t.title]));

  const run = async () => {
    const ids = eligible.map((t) => t.id);
    const items: Item[] = [];
    setPhase({ step: 'running', done: 0 });
    try {
      for (let i = 0; i < ids.length; i += CHUNK) {
        const res = await api.bulk(props.action, ids.slice(i, i + CHUNK));
        items.push(...res.items);
        setPhase({ step: 'running', done: items.length });
      }
      setPhase({ step: 'results', items });
    } catch (err) {
      // Tasks of the chunks that did not get an answer are reported as such, so nothing is silently left out.
      const answered = new Set(items.map((x) => x.id));
      const rest = ids.filter((id) => !answered.has(id)).map((id) => ({ id, status: 0, task: null, error: (err as Error).message }));
      setPhase({ step: 'results', items: [...items, ...rest], error: (err as Error).message });
    }
  };

  const title = `${words.verb} ${plural(eligible.length, 'task')}`;
  if (phase.step === 'confirm') {
    return (
      <Modal
        title={`${words.verb} ${plural(props.tasks.length, 'selected task')}?`}
        onClose={() => props.onClose(false)}
        footer={
          <>
            <button type="button" class="ghost" onClick={() => props.onClose(false)}>
              Back
            </button>
            <button type="button" class={props.action === 'cancel' ? 'danger' : 'primary'} onClick={run} disabled={eligible.length === 0}>
              {label}
            </button>
          </>
        }
      >
        <p data-testid="bulk-eligible">
          {eligible.length === props.tasks.length
            ? `All ${plural(eligible.length, 'selected task')} can be ${words.done}.`
            : eligible.length === 0
              ? `None of the selected tasks can be ${words.done}: ${props.tasks.length === 1 ? 'it is' : 'all are'} ${words.skipped}.`
              : `${plural(eligible.length, 'task')} of ${props.tasks.length} can be ${words.done}; ${others(props.tasks.length - eligible.length, words.skipped, 'will be left as')}.`}
        </p>
        {eligible.length > 0 && <p class="muted small">Each task gets its own result, as if it had been done one by one.</p>}
      </Modal>
    );
  }
  if (phase.step === 'running') {
    const pct = Math.round((phase.done / eligible.length) * 100);
    return (
      <Modal title={title} onClose={() => {}}>
        <p>
          Working… {phase.done} of {eligible.length}
        </p>
        <div
          class="progress status-IN_PROGRESS"
          role="progressbar"
          aria-label={`${title}: done so far`}
          aria-valuenow={pct}
          aria-valuemin={0}
          aria-valuemax={100}
        >
          <div class="progress-track">
            <div class="progress-fill" style={{ width: `${pct}%` }} />
          </div>
        </div>
      </Modal>
    );
  }
  const ok = phase.items.filter((x) => x.status === 200).length;
  const refused = phase.items.length - ok;
  const rows = show === 'refused' ? phase.items.filter((x) => x.status !== 200) : phase.items;
  return (
    <Modal
      title={`${title}: results`}
      wide
      onClose={() => props.onClose(true)}
      footer={
        <button type="button" class="primary" onClick={() => props.onClose(true)}>
          Done
        </button>
      }
    >
      <div class="bulk-summary" data-testid="bulk-summary">
        <span class="pill ok">
          {ok} {words.done}
        </span>
        <span class={refused ? 'pill refused' : 'pill'}>{refused} refused</span>
        <span class="spacer" />
        <div class="segmented">
          <button type="button" class={show === 'all' ? 'active' : ''} onClick={() => setShow('all')}>
            All
          </button>
          <button type="button" class={show === 'refused' ? 'active' : ''} onClick={() => setShow('refused')} disabled={!refused}>
            Refused only
          </button>
        </div>
      </div>
      {phase.error && <p class="form-error">The service stopped answering: {phase.error}</p>}
      {eligible.length < props.tasks.length && (
        <p class="muted small">{others(props.tasks.length - eligible.length, words.skipped, 'left as')}.</p>
      )}
      <div class="bulk-results">
        <table class="tasks compact">
          <thead>
            <tr>
              <th>
                <span class="sr-only">Outcome</span>
              </th>
              <th>Task</th>
              <th>Result</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((x) => (
              <tr key={x.id} data-result-id={x.id} class={x.status === 200 ? 'result-ok' : 'result-refused'}>
                <td class="result-mark">{x.status === 200 ? '✓' : '✕'}</td>
                <td>
                  <a {...linkProps(`/tasks/${x.id}`, () => props.onClose(true))}>{x.task?.title ?? titles.get(x.id) ?? shortId(x.id)}</a>{' '}
                  <code class="muted">{shortId(x.id)}</code>
                </td>
                <td>
                  {x.task ? (
                    <span class="result-line">
                      now <StatusBadge status={x.task.status} />
                    </span>
                  ) : (
                    <span class="error-text">
                      {x.status ? `${x.status} · ` : ''}
                      {x.error ?? statusLabel('refused')}
                    </span>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </Modal>
  );
}
