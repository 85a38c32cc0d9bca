import { sql } from 'drizzle-orm';
import type { Executor } from '#lib/db/client';
import { IS_TERMINAL } from '#lib/db/schema';

// Retention: what is older than the retention period goes, a small batch per statement, so that each statement is
// a short transaction that holds few locks and little WAL at a time, and work on new tasks goes on meanwhile.

const cutoff = (days: number) => sql`now() - make_interval(days => ${days}::int)`;

/**
 * Deletes up to `limit` tasks that finished more than `days` ago, with their events and dead letters (their foreign
 * keys cascade). Rows another transaction holds are skipped, left for the next batch. Returns how many went.
 */
export async function deleteExpiredTasks(ex: Executor, days: number, limit: number): Promise<number> {
  // The partial index tasks_terminal_finished_at_idx finds them (the same predicate, IS_TERMINAL).
  const res = await ex.execute(sql`
    WITH doomed AS (
      SELECT id FROM tasks
      WHERE ${IS_TERMINAL} AND finished_at < ${cutoff(days)}
      ORDER BY finished_at LIMIT ${limit}
      FOR UPDATE SKIP LOCKED
    )
    DELETE FROM tasks t USING doomed WHERE t.id = doomed.id`);
  return res.rowCount ?? 0;
}

/** Deletes up to `limit` dead letters recorded more than `days` ago (those of no task, or of a task still kept). */
export async function deleteExpiredDeadLetters(ex: Executor, days: number, limit: number): Promise<number> {
  const res = await ex.execute(sql`
    WITH doomed AS (
      SELECT id FROM dead_letters WHERE failed_at < ${cutoff(days)} ORDER BY failed_at LIMIT ${limit} FOR UPDATE SKIP LOCKED
    )
    DELETE FROM dead_letters d USING doomed WHERE d.id = doomed.id`);
  return res.rowCount ?? 0;
}
