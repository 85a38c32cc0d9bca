import { inArray, sql } from 'drizzle-orm';
import type { Executor } from '#lib/db/client';
import { outbox } from '#lib/db/schema';
import { uuids } from '#lib/db/tasks';

export interface OutboxRow {
  id: number;
  queue: string;
  body: Record<string, unknown>;
  priority: number;
}

/** Deletes outbox rows once their messages are published. */
export async function deleteOutboxRows(ex: Executor, ids: number[]): Promise<void> {
  if (ids.length) await ex.delete(outbox).where(inArray(outbox.id, ids));
}

/** Locks up to `limit` outbox rows older than `olderThanMs` that no other dispatcher holds. */
export async function lockStaleOutboxRows(ex: Executor, olderThanMs: number, limit: number): Promise<OutboxRow[]> {
  const res = await ex.execute<{ id: string; queue: string; body: Record<string, unknown>; priority: number }>(sql`
    SELECT id, queue, body, priority FROM outbox
    WHERE created_at < now() - make_interval(secs => ${olderThanMs / 1000})
    ORDER BY id LIMIT ${limit} FOR UPDATE SKIP LOCKED`);
  return res.rows.map((r) => ({ ...r, id: Number(r.id) }));
}

/** Moves the given tasks from NEW to PENDING (their message is being published), recording the events. */
export async function markTasksQueued(ex: Executor, taskIds: string[]): Promise<void> {
  if (!taskIds.length) return;
  await ex.execute(sql`
    WITH u AS (
      UPDATE tasks SET status = 'PENDING', updated_at = now()
      WHERE id = ANY(${uuids(taskIds)}) AND status = 'NEW'
      RETURNING id, updated_at
    )
    INSERT INTO task_events (task_id, from_status, to_status, at, reason)
    SELECT id, 'NEW', 'PENDING', updated_at, 'queued' FROM u`);
}
