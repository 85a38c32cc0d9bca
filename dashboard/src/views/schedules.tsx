import { useEffect, useState } from 'preact/hooks';
import { api, type NewSchedule } from '../api';
import { StatusBadge } from '../components/badges';
import { FieldError, type FormErrors, FormMessage, formErrorsOf, noErrors } from '../components/forms';
import { Modal } from '../components/modal';
import { PageHeader } from '../components/page';
import { TableWrap } from '../components/table';
import { toast } from '../components/toasts';
import { ago, dateTime, duration, statusLabel } from '../format';
import { useNow, usePolling } from '../hooks';
import { linkProps } from '../router';
import { PRIORITIES, type Schedule, type Task, type TaskPriority } from '../types';

const EVERY_MS = 3_000;

/** Recurring schedules (cron in a time zone): list, create, edit, enable or disable, run now, delete. */
export function SchedulesView({ live }: { live: boolean }) {
  const list = usePolling(() => api.schedules(), [], EVERY_MS, live);
  const now = useNow();
  const [editing, setEditing] = useState<Schedule | 'new'>();
  const [deleting, setDeleting] = useState<Schedule>();
  const [busy, setBusy] = useState('');
  const [triggered, setTriggered] = useState<{ schedule: Schedule; task: Task }>();

  const run = async (id: string, what: () => Promise<unknown>, failed: string) => {
    setBusy(id);
    try {
      await what();
    } catch (err) {
      toast('error', `${failed}: ${(err as Error).message}`);
    } finally {
      setBusy('');
      await list.refresh();
    }
  };
  const toggle = (s: Schedule) =>
    run(s.id, () => api.updateSchedule(s.id, { enabled: !s.enabled }), s.enabled ? 'Disable refused' : 'Enable refused');
  const trigger = (s: Schedule) =>
    run(s.id, async () => setTriggered({ schedule: s, task: await api.triggerSchedule(s.id) }), `Could not run “${s.name}”`);

  const items = list.data?.items ?? [];
  return (
    <div class="stack">
      <PageHeader title="Schedules" sub="Tasks created on a cron schedule, in a time zone.">
        <button type="button" class="primary" onClick={() => setEditing('new')}>
          + New schedule
        </button>
      </PageHeader>
      {triggered && (
        <div class="card" role="status" data-testid="triggered">
          Ran “{triggered.schedule.name}” now: created <a {...linkProps(`/tasks/${triggered.task.id}`)}>{triggered.task.title}</a>{' '}
          <StatusBadge status={triggered.task.status} />
        </div>
      )}
      <section class="card table-card">
        {!list.data ? (
          <p class="empty" role={list.error ? 'alert' : undefined}>
            {list.error ? `Could not load the schedules: ${list.error.message}` : 'Loading…'}
          </p>
        ) : !items.length ? (
          <p class="empty">No schedules yet.</p>
        ) : (
          <TableWrap label="Schedules">
            <table class="tasks">
              <thead>
                <tr>
                  <th>Name</th>
                  <th>Cron</th>
                  <th>Enabled</th>
                  <th>Next run</th>
                  <th>Last run</th>
                  <th class="actions-col">
                    <span class="sr-only">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {items.map((s) => (
                  <tr key={s.id} data-schedule-id={s.id}>
                    <td class="task-cell">
                      <span class="task-title">{s.name}</span>
                      <div class="task-sub">
                        <span class="type">{s.task.type}</span>
                        <span title={s.task.title}>{s.task.title}</span>
                      </div>
                    </td>
                    <td class="nowrap">
                      <code class="cron">{s.cron}</code>
                      <div class="muted small">{s.timezone}</div>
                    </td>
                    <td>
                      <button
                        type="button"
                        class="small"
                        role="switch"
                        aria-checked={s.enabled}
                        aria-label={`Enabled: ${s.name}`}
                        disabled={busy === s.id}
                        onClick={() => toggle(s)}
                      >
                        <span class={s.enabled ? 'state-on' : 'state-off'}>{s.enabled ? 'On' : 'Off'}</span>
                      </button>
                    </td>
                    <td class="nowrap" data-testid="next-run">
                      {s.next_run_at ? (
                        <>
                          <time dateTime={s.next_run_at}>{dateTime(s.next_run_at)}</time>
                          <div class="muted small">in {duration(Math.max(0, Date.parse(s.next_run_at) - now))}</div>
                        </>
                      ) : (
                        <span class="muted">— (disabled)</span>
                      )}
                    </td>
                    <td class="nowrap" data-testid="last-run">
                      {s.last_run_at ? (
                        <time dateTime={s.last_run_at} title={dateTime(s.last_run_at)}>
                          {ago(s.last_run_at, now)}
                        </time>
                      ) : (
                        <span class="muted">never</span>
                      )}
                    </td>
                    <td class="actions-col">
                      <div class="row-actions">
                        <button type="button" class="small" disabled={busy === s.id} onClick={() => trigger(s)}>
                          Run now
                        </button>
                        <button type="button" class="small" onClick={() => setEditing(s)} aria-label={`Edit ${s.name}`}>
                          Edit
                        </button>
                        <button type="button" class="small danger-ghost" onClick={() => setDeleting(s)} aria-label={`Delete ${s.name}`}>
                          Delete
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
      {editing && (
        <ScheduleDialog
          schedule={editing === 'new' ? undefined : editing}
          onClose={() => setEditing(undefined)}
          onSaved={(s) => {
            setEditing(undefined);
            toast('ok', `Saved “${s.name}”`);
            void list.refresh();
          }}
        />
      )}
      {deleting && (
        <Modal
          title={`Delete “${deleting.name}”?`}
          onClose={() => setDeleting(undefined)}
          footer={
            <>
              <button type="button" class="ghost" onClick={() => setDeleting(undefined)}>
                Back
              </button>
              <button
                type="button"
                class="danger"
                disabled={busy === deleting.id}
                onClick={async () => {
                  const s = deleting;
                  await run(s.id, () => api.deleteSchedule(s.id), `Could not delete “${s.name}”`);
                  setDeleting(undefined);
                }}
              >
                Delete schedule
              </button>
            </>
          }
        >
          <p>It creates no more tasks. The tasks it created stay.</p>
        </Modal>
      )}
    </div>
  );
}

const TASK_FIELDS = ['task.type', 'task.title', 'task.priority', 'task.payload'];

/** Create (no `schedule`) or change a schedule; the 422 errors of the API are shown at their fields. */
function ScheduleDialog(props: { schedule?: Schedule; onClose: () => void; onSaved: (s: Schedule) => void }) {
  const s = props.schedule;
  const [name, setName] = useState(s?.name ?? '');
  const [cron, setCron] = useState(s?.cron ?? '*/5 * * * *');
  const [timezone, setTimezone] = useState(s?.timezone ?? Intl.DateTimeFormat().resolvedOptions().timeZone ?? 'UTC');
  const [enabled, setEnabled] = useState(s?.enabled ?? true);
  const [type, setType] = useState(s?.task.type ?? '');
  const [title, setTitle] = useState(s?.task.title ?? '');
  const [priority, setPriority] = useState<TaskPriority>(s?.task.priority ?? 'MEDIUM');
  const [payload, setPayload] = useState(JSON.stringify(s?.task.payload ?? {}, null, 2));
  const [types, setTypes] = useState<string[]>([]);
  const [errors, setErrors] = useState<FormErrors>(noErrors);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    api.taskTypes().then(
      (list) => {
        setTypes(list.items.map((t) => t.name));
        if (!s) setType((list.items.find((t) => t.default) ?? list.items[0])?.name ?? '');
      },
      () => setTypes([]),
    );
  }, []);

  const submit = async (e: Event) => {
    e.preventDefault();
    let parsed: unknown;
    try {
      parsed = JSON.parse(payload || '{}');
    } catch {
      parsed = undefined;
    }
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
      setErrors({ fields: { 'task.payload': 'must be a JSON object' }, message: '' });
      return;
    }
    // The rest of the stored task body (description, max_attempts, …) is kept as it was.
    const task = { ...s?.task, type, title, priority, payload: parsed as Record<string, unknown> };
    const body: NewSchedule = { name, cron, timezone, enabled, task };
    setBusy(true);
    setErrors(noErrors);
    try {
      props.onSaved(s ? await api.updateSchedule(s.id, body) : await api.createSchedule(body));
    } catch (err) {
      setErrors(formErrorsOf(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <Modal
      title={s ? `Edit “${s.name}”` : 'New schedule'}
      wide
      onClose={props.onClose}
      footer={
        <>
          <button type="button" class="ghost" onClick={props.onClose}>
            Close
          </button>
          <button type="submit" form="schedule-form" class="primary" disabled={busy}>
            {busy ? 'Saving…' : s ? 'Save schedule' : 'Create schedule'}
          </button>
        </>
      }
    >
      <form id="schedule-form" class="form grid-form" onSubmit={submit} noValidate>
        <label class="field span-2">
          <span>Name</span>
          <input value={name} onInput={(e) => setName(e.currentTarget.value)} aria-label="Name" />
          <FieldError errors={errors} path="name" />
        </label>
        <label class="field">
          <span>Cron</span>
          <input class="cron" value={cron} onInput={(e) => setCron(e.currentTarget.value)} aria-label="Cron" spellcheck={false} />
          <small class="help">minute hour day-of-month month day-of-week</small>
          <FieldError errors={errors} path="cron" />
        </label>
        <label class="field">
          <span>Time zone</span>
          <input value={timezone} onInput={(e) => setTimezone(e.currentTarget.value)} aria-label="Time zone" spellcheck={false} />
          <small class="help">An IANA name: UTC, Europe/Berlin</small>
          <FieldError errors={errors} path="timezone" />
        </label>
        <label class="field checkbox span-2">
          <input type="checkbox" checked={enabled} onChange={(e) => setEnabled(e.currentTarget.checked)} aria-label="Enabled" />
          <span>Enabled</span>
        </label>
        <fieldset class="payload span-2">
          <legend>The task each run creates</legend>
          <div class="grid-form">
            <label class="field">
              <span>Type</span>
              <select value={type} onChange={(e) => setType(e.currentTarget.value)} aria-label="Type">
                {(types.includes(type) || !type ? types : [type, ...types]).map((t) => (
                  <option key={t} value={t}>
                    {t}
                  </option>
                ))}
              </select>
              <FieldError errors={errors} path="task.type" />
            </label>
            <label class="field">
              <span>Priority</span>
              <select value={priority} onChange={(e) => setPriority(e.currentTarget.value as TaskPriority)} aria-label="Priority">
                {PRIORITIES.map((p) => (
                  <option key={p} value={p}>
                    {statusLabel(p)}
                  </option>
                ))}
              </select>
              <FieldError errors={errors} path="task.priority" />
            </label>
            <label class="field span-2">
              <span>Title</span>
              <input value={title} onInput={(e) => setTitle(e.currentTarget.value)} aria-label="Task title" />
              <FieldError errors={errors} path="task.title" />
            </label>
            <label class="field span-2">
              <span>Payload (JSON)</span>
              <textarea
                class="code"
                rows={5}
                value={payload}
                onInput={(e) => setPayload(e.currentTarget.value)}
                aria-label="Payload JSON"
              />
              <FieldError errors={errors} path="task.payload" />
            </label>
          </div>
        </fieldset>
        <FormMessage errors={errors} shown={['name', 'cron', 'timezone', ...TASK_FIELDS]} />
      </form>
    </Modal>
  );
}
