import { setTimeout as sleep } from 'node:timers/promises';
import { db } from '#lib/db/client';
import { findTask, findTaskStatus, listTaskEvents, listTasks } from '#lib/db/tasks';
import { isTerminal, type TaskStatus } from '#lib/model';
import { NotFoundError } from '#lib/tasks/errors';
import { LIST_VALUE_MAX_BYTES } from '#lib/tasks/limits';
import { toTask, toTaskEvent, toTaskListItem } from '#lib/tasks/mapping';
import { encodeListCursor, type ListTasksQuery, type Task, TOTAL_COUNT_CAP } from '#lib/tasks/schemas';

// Reading tasks: nothing here changes anything or publishes a message (the read-only functions bundle only this).

/** How often a `?wait=` request looks at its task again. */
export const WAIT_POLL_MS = 100;

/**
 * Reads a task with `read` until it is terminal, for at most `waitS` seconds (not at all without one); NotFoundError
 * when there is none. A poll by primary key every WAIT_POLL_MS rather than LISTEN/NOTIFY: a Lambda container has
 * one database connection, which a LISTEN would hold (a second one per waiting container, or none through a
 * transaction-pooling proxy, where LISTEN does not work); a lookup by key costs the database a few microseconds,
 * and the pool's connection is free between polls. See docs/design-notes.md.
 */
async function readUntilTerminal<T extends { status: TaskStatus }>(read: () => Promise<T | undefined>, waitS?: number): Promise<T> {
  const until = Date.now() + (waitS ?? 0) * 1_000;
  for (;;) {
    const row = await read();
    if (!row) throw new NotFoundError();
    const left = until - Date.now();
    if (isTerminal(row.status) || left <= 0) return row;
    await sleep(Math.min(WAIT_POLL_MS, left));
  }
}

/** The task with this id, once it is terminal when `waitS` is given (or after that many seconds); NotFoundError when there is none. */
export async function getTask(id: string, waitS?: number): Promise<Task> {
  return toTask(await readUntilTerminal(() => findTask(db(), id), waitS));
}

/** The status of a task, once it is terminal when `waitS` is given (or after that many seconds); NotFoundError when there is none. */
export async function getTaskStatus(id: string, waitS?: number): Promise<{ task_id: string; status: TaskStatus }> {
  const { status } = await readUntilTerminal(async () => {
    const s = await findTaskStatus(db(), id);
    return s && { status: s };
  }, waitS);
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
