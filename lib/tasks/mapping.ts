import type { ScheduleRow, TaskEventRow, TaskRow } from '#lib/db/schema';
import type { TaskListRow } from '#lib/db/tasks';
import type { Schedule, Task, TaskListItem } from '#lib/tasks/schemas';

/** A time as the API writes it: ISO 8601 UTC with milliseconds. */
export const iso = (d: Date | string | null): string | null => (d === null ? null : new Date(d).toISOString());

/** The API shape of a stored task. */
export function toTask(row: TaskRow): Task {
  return {
    id: row.id,
    type: row.type,
    title: row.title,
    description: row.description,
    priority: row.priority,
    payload: row.payload as Record<string, unknown>,
    status: row.status,
    result: row.result ?? null,
    error: row.error,
    attempts: row.attempts,
    max_attempts: row.max_attempts,
    timeout_ms: row.timeout_ms,
    progress: row.progress,
    created_at: iso(row.created_at) as string,
    updated_at: iso(row.updated_at) as string,
    started_at: iso(row.started_at),
    finished_at: iso(row.finished_at),
    schedule_id: row.schedule_id,
    run_at: iso(row.run_at),
    callback_url: row.callback_url ?? null,
  };
}

/** The API shape of a task in a list: a large payload or result is null, and `payload_omitted` or `result_omitted` says so. */
export function toTaskListItem(row: TaskListRow): TaskListItem {
  return {
    ...toTask({ ...row, payload: row.payload ?? {} }),
    payload: row.payload as Record<string, unknown> | null,
    payload_omitted: row.payload_omitted,
    result_omitted: row.result_omitted,
  };
}

/** The API shape of a task's event. */
export const toTaskEvent = (e: TaskEventRow) => ({
  from_status: e.from_status,
  to_status: e.to_status,
  at: iso(e.at) as string,
  reason: e.reason,
  attempt: e.attempt,
  error: e.error,
});

/** The API shape of a stored schedule. */
export const toSchedule = (row: ScheduleRow): Schedule => ({
  id: row.id,
  name: row.name,
  cron: row.cron,
  timezone: row.timezone,
  task: row.task as Schedule['task'],
  enabled: row.enabled,
  next_run_at: iso(row.next_run_at),
  last_run_at: iso(row.last_run_at),
  created_at: iso(row.created_at) as string,
  updated_at: iso(row.updated_at) as string,
});
