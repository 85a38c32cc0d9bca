import { type SQL, sql } from 'drizzle-orm';
import { arrayOf, uuids } from '#lib/db/arrays';
import type { Executor } from '#lib/db/client';
import { fromOf, moved, recordEvents, status } from '#lib/db/events';
import type { TaskRow } from '#lib/db/schema';
import { MOVES, QUEUE_PRIORITY, type TaskPriority } from '#lib/model';

// The transactional outbox, in SQL. A change that needs a message writes an outbox row in the same statement
// or transaction; the writer then publishes the message itself and deletes the row (lib/tasks/outbox.ts), and
// the dispatcher publishes whatever is left once it is available. Two rules keep a task from being stranded:
// - a task is NEW only while it has an outbox row (the move back to NEW takes the row's lock first: a row the
//   dispatcher published and deleted meanwhile leaves the task PENDING, its message on the way);
// - the dispatcher locks task rows in id order, as claims do, so that the two never deadlock.

export interface OutboxRow {
  id: number;
  queue: string;
  body: Record<string, unknown>;
  priority: number;
}

/**
 * The statement part that writes the run messages of the tasks in `from` (a CTE or table alias with `id` and
 * `priority`): queue `tasks`, body `{ task_id }`, the queue priority of the task's priority. The dispatcher may
 * publish a row once `availableInMs` has passed (0 for rows nobody else publishes).
 */
export function insertTaskMessages(from: string, availableInMs: number | SQL): SQL {
  const priority = sql.raw(
    `CASE ${from}.priority WHEN 'LOW' THEN ${QUEUE_PRIORITY.LOW} WHEN 'MEDIUM' THEN ${QUEUE_PRIORITY.MEDIUM} ELSE ${QUEUE_PRIORITY.HIGH} END`,
  );
  return sql`INSERT INTO outbox (queue, body, priority, available_at)
    SELECT 'tasks', jsonb_build_object('task_id', ${sql.raw(from)}.id), ${priority},
      now() + make_interval(secs => ${availableInMs}::float8 / 1000.0)
    FROM ${sql.raw(from)}`;
}

/** Deletes outbox rows once their messages are published. */
export async function deleteOutboxRows(ex: Executor, ids: readonly number[]): Promise<void> {
  if (ids.length) await ex.execute(sql`DELETE FROM outbox WHERE id = ANY(${arrayOf(ids, 'bigint')})`);
}

/** Locks up to `limit` outbox rows that are available for publishing and that no other dispatcher holds. */
export async function lockAvailableOutboxRows(ex: Executor, limit: number): Promise<OutboxRow[]> {
  const res = await ex.execute<{ id: string; queue: string; body: Record<string, unknown>; priority: number }>(sql`
    SELECT id, queue, body, priority FROM outbox
    WHERE available_at <= now()
    ORDER BY available_at, id LIMIT ${limit} FOR UPDATE SKIP LOCKED`);
  return res.rows.map((r) => ({ ...r, id: Number(r.id) }));
}

/** Moves the given tasks from NEW to PENDING (their message is being published), recording the events. */
export async function markTasksQueued(ex: Executor, taskIds: string[]): Promise<void> {
  if (!taskIds.length) return;
  await ex.execute(sql`
    WITH prev AS (
      SELECT id, status FROM tasks WHERE id = ANY(${uuids(taskIds)}) AND status = ANY(${fromOf(MOVES.queue)}) ORDER BY id FOR UPDATE
    ),
    u AS (
      UPDATE tasks t SET status = ${status(MOVES.queue.to)}, updated_at = now()
      FROM prev WHERE t.id = prev.id
      RETURNING t.id, t.updated_at, prev.status AS prev_status
    )
    ${recordEvents('u', moved(MOVES.queue, 'queued'))}`);
}

/**
 * Moves tasks whose message could not be published back to NEW (PENDING -> NEW, with the event), but only those
 * whose outbox row is still there: the row is locked first, so a dispatcher publishing it right now is waited
 * for, and a row it has published and deleted leaves its task PENDING. Returns the tasks moved.
 */
export async function returnUnpublishedToNew(
  ex: Executor,
  items: readonly { taskId: string; outboxId: number }[],
  reason: string,
): Promise<TaskRow[]> {
  if (!items.length) return [];
  const res = await ex.execute(sql`
    WITH o AS (
      SELECT (body->>'task_id')::uuid AS task_id FROM outbox
      WHERE id = ANY(${arrayOf(
        items.map((i) => i.outboxId),
        'bigint',
      )}) ORDER BY id FOR UPDATE
    ),
    prev AS (
      SELECT t.id, t.status FROM tasks t WHERE t.id IN (SELECT task_id FROM o) AND t.id = ANY(${uuids(items.map((i) => i.taskId))})
        AND t.status = ANY(${fromOf(MOVES.unqueue)}) ORDER BY t.id FOR UPDATE
    ),
    u AS (
      UPDATE tasks t SET status = ${status(MOVES.unqueue.to)}, updated_at = now()
      FROM prev WHERE t.id = prev.id
      RETURNING t.*, prev.status AS prev_status
    ),
    e AS (${recordEvents('u', moved(MOVES.unqueue, reason))})
    SELECT * FROM u`);
  return res.rows as TaskRow[];
}

/**
 * Writes an outbox row again for PENDING tasks that have waited longer than `olderThanMs` since their last change
 * with no outbox row (held tasks excepted: their type lets them go, lib/db/task-types.ts): their message may be gone (SQS moves a message that failed too often to the dead-letter
 * queue; a broker may lose one). Touches `updated_at` so that each is written again at most once per period; a
 * duplicate message is harmless (claims are conditional). Returns the ids.
 */
export async function republishStalePending(ex: Executor, olderThanMs: number, limit: number): Promise<string[]> {
  const res = await ex.execute<{ id: string }>(sql`
    WITH stale AS (
      SELECT t.id FROM tasks t
      WHERE t.status = ANY(${fromOf(MOVES.claim)}) AND t.held_at IS NULL
        AND t.updated_at < now() - make_interval(secs => ${olderThanMs}::float8 / 1000.0)
        AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.body->>'task_id' = t.id::text)
      ORDER BY t.updated_at LIMIT ${limit} FOR UPDATE SKIP LOCKED
    ),
    u AS (UPDATE tasks t SET updated_at = now() FROM stale WHERE t.id = stale.id RETURNING t.id, t.priority),
    o AS (${insertTaskMessages('u', 0)})
    SELECT id FROM u`);
  return res.rows.map((r) => r.id);
}

/**
 * Gives the waiting outbox rows of a task the queue priority of its new priority (a PATCH), and answers how many
 * there were. A row a dispatcher is publishing is waited for, and then gone.
 */
export async function setTaskMessagesPriority(ex: Executor, taskId: string, priority: TaskPriority): Promise<number> {
  const res = await ex.execute(sql`UPDATE outbox SET priority = ${QUEUE_PRIORITY[priority]} WHERE body->>'task_id' = ${taskId}`);
  return res.rowCount ?? 0;
}
