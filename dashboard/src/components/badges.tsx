import { statusLabel } from '../format';
import type { TaskStatus } from '../types';

export function StatusBadge({ status }: { status: TaskStatus }) {
  return (
    <span class={`badge status-${status}`} data-status={status}>
      <span class="dot" />
      {statusLabel(status)}
    </span>
  );
}

export function PriorityBadge({ priority }: { priority: string }) {
  return <span class={`priority priority-${priority}`}>{statusLabel(priority)}</span>;
}

/** A progress bar named `label`; striped while the task runs, empty (a dash) when the task never reported any. */
export function Progress({ value, status, label = 'Progress' }: { value: number | null; status: TaskStatus; label?: string }) {
  if (value === null && status !== 'IN_PROGRESS') return <span class="muted">—</span>;
  const v = value ?? 0;
  return (
    <div class={`progress status-${status}`} role="progressbar" aria-label={label} aria-valuenow={v} aria-valuemin={0} aria-valuemax={100}>
      <div class="progress-track">
        <div class="progress-fill" style={{ width: `${v}%` }} />
      </div>
      <span class="progress-value">{v}%</span>
    </div>
  );
}
