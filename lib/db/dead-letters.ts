import { and, count, desc, eq, inArray, type SQL, sql } from 'drizzle-orm';
import type { Executor } from '#lib/db/client';
import { type DeadLetterRow, deadLetters } from '#lib/db/schema';

/** The queues whose messages can be dead letters (the table's check constraint says the same). */
export type DeadLetterQueue = 'tasks' | 'task_intake';

export interface NewDeadLetter {
  queue: DeadLetterQueue;
  /** The task the message is about, if any; kept only when that task exists (a dead letter goes with its task). */
  taskId: string | null;
  reason: string;
  body: string;
  receiveCount: number;
}

/** Records a dead letter; returns it. */
export async function insertDeadLetter(ex: Executor, d: NewDeadLetter): Promise<DeadLetterRow> {
  const taskId = d.taskId ? sql`(SELECT id FROM tasks WHERE id = ${d.taskId}::uuid)` : sql`NULL::uuid`;
  const res = await ex.execute<DeadLetterRow>(sql`
    INSERT INTO dead_letters (queue, task_id, reason, body, receive_count)
    VALUES (${d.queue}, ${taskId}, ${d.reason}, ${d.body}, ${Math.max(1, Math.round(d.receiveCount))})
    RETURNING *`);
  return res.rows[0] as DeadLetterRow;
}

/** One page of dead letters (of one queue, or all), newest first, with the total count. */
export async function listDeadLetters(
  ex: Executor,
  q: { queue?: DeadLetterQueue; limit: number; offset: number },
): Promise<{ items: DeadLetterRow[]; total: number }> {
  const filter = q.queue ? eq(deadLetters.queue, q.queue) : undefined;
  const [items, [totalRow]] = await Promise.all([
    ex.select().from(deadLetters).where(filter).orderBy(desc(deadLetters.failed_at), desc(deadLetters.id)).limit(q.limit).offset(q.offset),
    ex.select({ n: count() }).from(deadLetters).where(filter),
  ]);
  return { items, total: totalRow?.n ?? 0 };
}

/** Dead letters counted by queue (zeros included). */
export async function countDeadLetters(ex: Executor): Promise<Record<DeadLetterQueue, number>> {
  const rows = await ex.select({ queue: deadLetters.queue, n: count() }).from(deadLetters).groupBy(deadLetters.queue);
  const counts: Record<DeadLetterQueue, number> = { tasks: 0, task_intake: 0 };
  for (const r of rows) counts[r.queue as DeadLetterQueue] = r.n;
  return counts;
}

/**
 * Locks the task of a dead letter, if it has one, for the rest of the transaction. Taken before the dead letter, it
 * keeps the order in which retention locks them (a task, then by cascade its dead letters): a redrive and the retention
 * of the same task then wait for each other, and never deadlock.
 */
export async function lockTaskOfDeadLetter(ex: Executor, id: string): Promise<void> {
  await ex.execute(sql`
    SELECT t.id FROM tasks t WHERE t.id = (SELECT d.task_id FROM dead_letters d WHERE d.id = ${id}) FOR UPDATE OF t`);
}

/**
 * Deletes a dead letter and returns it (undefined when there is none). In a transaction, a concurrent delete of the
 * same one waits for it and then finds nothing: a dead letter is redriven or discarded once.
 */
export async function takeDeadLetter(ex: Executor, id: string, queue?: DeadLetterQueue): Promise<DeadLetterRow | undefined> {
  const where: SQL[] = [eq(deadLetters.id, id)];
  if (queue) where.push(eq(deadLetters.queue, queue));
  const [row] = await ex
    .delete(deadLetters)
    .where(and(...where))
    .returning();
  return row;
}

/** The ids of the oldest `limit` dead letters of a queue, oldest first. */
export async function oldestDeadLetterIds(ex: Executor, queue: DeadLetterQueue, limit: number): Promise<string[]> {
  const rows = await ex
    .select({ id: deadLetters.id })
    .from(deadLetters)
    .where(eq(deadLetters.queue, queue))
    .orderBy(deadLetters.failed_at, deadLetters.id)
    .limit(limit);
  return rows.map((r) => r.id);
}

/** Which of `ids` are dead letters of `queue`. */
export async function existingDeadLetterIds(ex: Executor, queue: DeadLetterQueue, ids: readonly string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const rows = await ex
    .select({ id: deadLetters.id })
    .from(deadLetters)
    .where(and(eq(deadLetters.queue, queue), inArray(deadLetters.id, [...ids])));
  return new Set(rows.map((r) => r.id));
}
