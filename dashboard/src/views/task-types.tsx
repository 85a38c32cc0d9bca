import { useState } from 'preact/hooks';
import { api } from '../api';
import { FieldError, type FormErrors, formErrorsOf, noErrors } from '../components/forms';
import { PageHeader } from '../components/page';
import { TableWrap } from '../components/table';
import { toast } from '../components/toasts';
import { duration } from '../format';
import { usePolling } from '../hooks';
import type { TaskTypeItem } from '../types';

const EVERY_MS = 2_000;

/** The registered task types with their run-time settings: pause or resume each, cap its runs at once. */
export function TaskTypesView({ live }: { live: boolean }) {
  const list = usePolling(() => api.taskTypes(), [], EVERY_MS, live);
  const items = list.data?.items ?? [];
  return (
    <div class="stack">
      <PageHeader title="Task types" sub="Pause a type to hold its tasks in Pending; cap how many of its runs go at once." />
      <section class="card table-card">
        {!list.data ? (
          <p class="empty" role={list.error ? 'alert' : undefined}>
            {list.error ? `Could not load the task types: ${list.error.message}` : 'Loading…'}
          </p>
        ) : (
          <TableWrap label="Task types">
            <table class="tasks">
              <thead>
                <tr>
                  <th>Type</th>
                  <th>State</th>
                  <th class="num">Running now</th>
                  <th>Concurrency limit</th>
                  <th>Timeout</th>
                </tr>
              </thead>
              <tbody>
                {items.map((t) => (
                  <TypeRow key={t.name} type={t} onChanged={list.refresh} />
                ))}
              </tbody>
            </table>
          </TableWrap>
        )}
      </section>
    </div>
  );
}

function TypeRow({ type, onChanged }: { type: TaskTypeItem; onChanged: () => Promise<void> }) {
  const [limit, setLimit] = useState<string>();
  const [errors, setErrors] = useState<FormErrors>(noErrors);
  const [busy, setBusy] = useState(false);
  const saved = type.concurrency === null ? '' : String(type.concurrency);
  const shown = limit ?? saved;

  const change = async (body: { paused?: boolean; concurrency?: number | null }) => {
    setBusy(true);
    setErrors(noErrors);
    try {
      await api.updateTaskType(type.name, body);
      // The new settings first, then the field shows them (not the old ones for a moment); a value typed meanwhile stays.
      const sent = limit;
      await onChanged();
      setLimit((current) => (current === sent ? undefined : current));
      return true;
    } catch (err) {
      setErrors(formErrorsOf(err));
      return false;
    } finally {
      setBusy(false);
    }
  };
  const saveLimit = async (e: Event) => {
    e.preventDefault();
    const text = shown.trim();
    // Sent as typed (a number when it reads as one), so that the API's 422 says what is wrong with it.
    const concurrency = text === '' ? null : Number.isNaN(Number(text)) ? (text as unknown as number) : Number(text);
    if (await change({ concurrency })) toast('ok', `${type.name}: ${concurrency === null ? 'no limit' : `at most ${concurrency} at once`}`);
  };

  return (
    <tr data-type={type.name}>
      <td class="task-cell">
        <span class="task-title">{type.name}</span>
        {type.default && <span class="muted small"> (default)</span>}
        <div class="task-sub">
          <span title={type.description}>{type.description}</span>
        </div>
      </td>
      <td class="nowrap">
        <button
          type="button"
          class="small"
          role="switch"
          aria-checked={!type.paused}
          aria-label={`Running: ${type.name}`}
          disabled={busy}
          onClick={() => change({ paused: !type.paused })}
          title={type.paused ? 'Paused: click to resume' : 'Running: click to pause'}
        >
          <span class={type.paused ? 'state-off' : 'state-on'} data-testid="type-state">
            {type.paused ? 'Paused' : 'Running'}
          </span>
        </button>
        <FieldError errors={errors} path="paused" />
      </td>
      <td class="num" data-testid="type-running">
        {type.running}
      </td>
      <td>
        <form class="inline-form" onSubmit={saveLimit} noValidate>
          <input
            type="number"
            min={1}
            max={10_000}
            placeholder="no limit"
            value={shown}
            onInput={(e) => setLimit(e.currentTarget.value)}
            aria-label={`Concurrency limit of ${type.name}`}
          />
          <button type="submit" class="small" disabled={busy || shown.trim() === saved}>
            Save
          </button>
        </form>
        <FieldError errors={errors} path="concurrency" />
        {errors.message && !errors.fields.concurrency && !errors.fields.paused && (
          <span class="field-error" role="alert">
            {errors.message}
          </span>
        )}
      </td>
      <td class="nowrap">{duration(type.timeout_ms)}</td>
    </tr>
  );
}
