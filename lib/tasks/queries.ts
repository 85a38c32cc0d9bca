import { db } from '#lib/db/client';
import { findTask, findTaskStatus, listTaskEvents, listTasks } from '#lib/db/tasks';
import type { TaskStatus } from '#lib/model';
import { NotFoundError } from '#lib/tasks/errors';
import { LIST_VALUE_MAX_BYTES } from '#lib/tasks/limits';
import { toTask, toTaskEvent, toTaskListItem } from '#lib/tasks/mapping';
import { encodeListCursor, type ListTasksQuery, type Task, TOTAL_COUNT_CAP } from '#lib/tasks/schemas';

// Reading tasks: nothing here changes anything or publishes a message (the read-only functions bundle only this).

/** The task with this id; NotFoundError when there is none. */
export async function getTask(id: string): Promise<Task> {
  const row = await findTask(db(), id);
  if (!row) throw new NotFoundError();
  return toTask(row);
}

/** The status of a task; NotFoundError when there is none. */
export async function getTaskStatus(id: string): Promise<{ task_id: string; status: TaskStatus }> {
  const status = await findTaskStatus(db(), id);
  if (!status) throw new NotFoundError();
  return { task_id: id, status };
}

/** A page of tasks matching the query, newest first; large payloads and results are left out of its items. */
export async function searchTasks(q: ListTasksQuery) {
  const { cursor, ...filters } = q;
  const { items, total, totalExact } = await listTasks(db(), {
    ...filters,
    after: cursor,
    countCap: TOTAL_COUNT_CAP,
    maxValueBytes: LIST_VALUE_MAX_BYTES,
  });
  const last = items.at(-1);
  return {
    items: items.map(toTaskListItem),
    total,
    total_exact: totalExact,
    limit: q.limit,
    offset: q.offset,
    // A full page may have more after it; a short one is the last.
    next_cursor: last && items.length === q.limit ? encodeListCursor({ created_at: last.created_at.toISOString(), id: last.id }) : null,
  };
}

/** The status history of a task, oldest first. */
export async function getTaskEvents(id: string) {
  const [exists, events] = await Promise.all([findTaskStatus(db(), id), listTaskEvents(db(), id)]);
  if (!exists) throw new NotFoundError();
  return { items: events.map(toTaskEvent) };
}
