import { useState } from 'preact/hooks';
import { ApiError, api } from '../api';
import { PriorityBadge, Progress, StatusBadge } from '../components/badges';
import { CopyButton } from '../components/copy';
import { TableWrap } from '../components/table';
import { toast } from '../components/toasts';
import { dateTime, duration, startsIn, statusLabel, timeOfDay } from '../format';
import { useNow, usePolling } from '../hooks';
import { linkProps } from '../router';
import { type CallbackAttempt, canCancel, canRetry, isTerminal, type Task, type TaskEvent } from '../types';

const EVERY_MS = 1_500;

/** One task: its fields, payload, result or error, and its status history as a timeline; refreshed live. */
export function TaskPage({ id, live }: { id: string; live: boolean }) {
  const data = usePolling(
    async () => {
      const [task, events, callbacks] = await Promise.all([api.get(id), api.events(id), api.callbacks(id)]);
      return { task, events: events.items, callbacks: callbacks.items };
    },
    [id],
    EVERY_MS,
    live,
  );
  const [busy, setBusy] = useState(false);
  const now = useNow();

  if (!data.data) {
    const missing = data.error instanceof ApiError && (data.error.status === 404 || data.error.status === 422);
    return (
      <div class="stack">
        <BackLink />
        <div class="card empty" role={data.error ? 'alert' : undefined}>
          {data.error ? (missing ? `No task has the id ${id}.` : `Could not load the task: ${data.error.message}`) : 'Loading…'}
        </div>
      </div>
    );
  }
  const { task, events, callbacks } = data.data;

  const act = async (action: 'cancel' | 'retry') => {
    setBusy(true);
    try {
      await (action === 'cancel' ? api.cancel(task.id) : api.retry(task.id));
      toast('ok', action === 'cancel' ? 'Task cancelled' : 'Task queued again');
    } catch (err) {
      toast('error', `${action === 'cancel' ? 'Cancel' : 'Retry'} refused: ${(err as Error).message}`);
    } finally {
      setBusy(false);
      await data.refresh();
    }
  };

  return (
    <div class="stack">
      <BackLink />
      <section class="card task-head">
        <div class="task-head-main">
          <div class="task-head-title">
            <h1>{task.title}</h1>
            <StatusBadge status={task.status} />
            <PriorityBadge priority={task.priority} />
            {task.status === 'SCHEDULED' && task.run_at && (
              <span class="countdown" data-testid="countdown" title={dateTime(task.run_at)}>
                {startsIn(task.run_at, now)}
              </span>
            )}
          </div>
          <div class="task-head-meta">
            <code data-testid="task-id">{task.id}</code>
            <CopyButton text={task.id} label="Copy id" />
            <span class="sep">·</span>
            <span>
              type <strong>{task.type}</strong>
            </span>
          </div>
          {task.description && <p class="task-description">{task.description}</p>}
        </div>
        <div class="task-head-actions">
          {canCancel(task.status) && (
            <button type="button" class="danger" disabled={busy} onClick={() => act('cancel')}>
              Cancel task
            </button>
          )}
          {canRetry(task.status) && (
            <button type="button" class="primary" disabled={busy} onClick={() => act('retry')}>
              Retry task
            </button>
          )}
        </div>
        {(task.progress !== null || task.status === 'IN_PROGRESS') && (
          <div class="task-head-progress">
            <Progress value={task.progress} status={task.status} />
          </div>
        )}
      </section>

      <div class="task-grid">
        <div class="stack">
          <section class="card">
            <h2>Details</h2>
            <Details task={task} now={now} />
          </section>
          <section class="card">
            <h2>Payload</h2>
            <pre class="json">{JSON.stringify(task.payload, null, 2)}</pre>
          </section>
          {task.error && (
            <section class="card">
              <h2>{task.status === 'FAILED' ? 'Error' : 'Error of the last attempt'}</h2>
              <pre class="json error-block" data-testid="task-error">
                {task.error}
              </pre>
            </section>
          )}
          <AttemptErrors events={events} />
          {task.result !== null && task.result !== undefined && (
            <section class="card">
              <h2>Result</h2>
              <pre class="json" data-testid="task-result">
                {JSON.stringify(task.result, null, 2)}
              </pre>
            </section>
          )}
          <Callbacks task={task} attempts={callbacks} />
        </div>
        <section class="card">
          <h2>History</h2>
          <Timeline events={events} task={task} now={now} />
        </section>
      </div>
    </div>
  );
}

function BackLink() {
  return (
    <a class="back" {...linkProps('/')}>
      ← All tasks
    </a>
  );
}

function Details({ task, now }: { task: Task; now: number }) {
  const started = task.started_at ? Date.parse(task.started_at) : undefined;
  const finished = task.finished_at ? Date.parse(task.finished_at) : undefined;
  const rows: Array<[string, string]> = [
    ['Attempts', `${task.attempts} of ${task.max_attempts}`],
    ['Timeout', task.timeout_ms === null ? 'type default' : duration(task.timeout_ms)],
    ['Created', dateTime(task.created_at)],
    ['Run at', task.run_at ? dateTime(task.run_at) : 'at once'],
    ['Started', task.started_at ? dateTime(task.started_at) : '—'],
    ['Finished', task.finished_at ? dateTime(task.finished_at) : '—'],
    ['Updated', dateTime(task.updated_at)],
  ];
  if (started !== undefined) rows.push(['Run time', `${duration((finished ?? now) - started)}${finished ? '' : ' so far'}`]);
  if (started !== undefined) rows.push(['Started after', duration(started - Date.parse(task.created_at))]);
  if (task.callback_url) rows.push(['Callback', task.callback_url]);
  return (
    <dl class="details">
      {rows.map(([k, v]) => (
        <div key={k}>
          <dt>{k}</dt>
          <dd>{v}</dd>
        </div>
      ))}
    </dl>
  );
}

/** Each attempt to POST the task to its callback_url, oldest first (GET /api/v1/tasks/{id}/callbacks). */
function Callbacks({ task, attempts }: { task: Task; attempts: CallbackAttempt[] }) {
  return (
    <section class="card" data-testid="callbacks">
      <h2>Callback deliveries</h2>
      {!task.callback_url ? (
        <p class="muted">This task has no callback_url.</p>
      ) : !attempts.length ? (
        <p class="muted">{isTerminal(task.status) ? 'No attempt yet.' : 'Sent when the task ends.'}</p>
      ) : (
        <TableWrap label="Callback attempts">
          <table class="tasks compact">
            <thead>
              <tr>
                <th class="num">Attempt</th>
                <th>Event</th>
                <th>At</th>
                <th>Status</th>
                <th>Took</th>
                <th>Error</th>
              </tr>
            </thead>
            <tbody>
              {attempts.map((a) => (
                <tr key={`${a.delivery_id}-${a.attempt}`}>
                  <td class="num">{a.attempt}</td>
                  <td>{a.event}</td>
                  <td class="nowrap">
                    <time dateTime={a.at} title={dateTime(a.at)}>
                      {timeOfDay(a.at)}
                    </time>
                  </td>
                  <td class={a.error ? 'error-text' : ''}>{a.status_code ?? 'no answer'}</td>
                  <td class="nowrap">{a.duration_ms === null ? '—' : duration(a.duration_ms)}</td>
                  <td class="wrap-anywhere">{a.error ?? 'delivered'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableWrap>
      )}
    </section>
  );
}

/** The error of each failed attempt, oldest first, from the events that carry one. */
function AttemptErrors({ events }: { events: TaskEvent[] }) {
  const failed = events.filter((e) => e.error);
  if (!failed.length) return null;
  return (
    <section class="card">
      <h2>Errors by attempt</h2>
      <ol class="attempt-errors" data-testid="attempt-errors">
        {failed.map((e, i) => (
          <li key={`${e.at}-${i}`}>
            <div class="attempt-errors-line">
              <strong>{e.attempt != null ? `Attempt ${e.attempt}` : 'An attempt'}</strong>
              <span class="muted small">
                → {statusLabel(e.to_status)} at <time dateTime={e.at}>{timeOfDay(e.at)}</time>
              </span>
            </div>
            <pre class="json error-block">{e.error}</pre>
          </li>
        ))}
      </ol>
    </section>
  );
}

function Timeline({ events, task, now }: { events: TaskEvent[]; task: Task; now: number }) {
  return (
    <ol class="timeline" data-testid="timeline">
      {events.map((e, i) => {
        const prev = events[i - 1];
        const current = i === events.length - 1 && !isTerminal(task.status);
        return (
          <li key={`${e.at}-${i}`} class={`status-${e.to_status}`}>
            <span class="timeline-dot" />
            <div class="timeline-body">
              <div class="timeline-line">
                <StatusBadge status={e.to_status} />
                {e.from_status && <span class="muted small">from {statusLabel(e.from_status)}</span>}
                <span class="spacer" />
                {prev && (
                  <span class="delta" title="Time since the previous change">
                    +{duration(Date.parse(e.at) - Date.parse(prev.at))}
                  </span>
                )}
                <time dateTime={e.at} title={dateTime(e.at)}>
                  {timeOfDay(e.at)}
                </time>
              </div>
              <div class="timeline-meta">
                {e.attempt != null && <span class="attempt">attempt {e.attempt}</span>}
                {e.reason && <span>{e.reason}</span>}
                {current && <span class="muted">· {duration(now - Date.parse(e.at))} so far</span>}
              </div>
              {e.error && <pre class="timeline-error">{e.error}</pre>}
            </div>
          </li>
        );
      })}
    </ol>
  );
}
