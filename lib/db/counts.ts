import { type SQL, sql } from 'drizzle-orm';
import type { Executor } from '#lib/db/client';
import type { TaskPriority, TaskStatus } from '#lib/model';

// Task counts without counting the table. Statement triggers on `tasks` (migration 0005) write, in the transaction
// of every insert, update and delete, one delta row per (status, type, priority) group the statement changed; a
// count is the sum of the deltas, always exact, and the maintenance folds the deltas into one row per group so that
// the sum stays a few dozen rows. Written by hand in SQL: no library keeps counts this way for PostgreSQL.

/** The dimensions the counts are kept by: a list filtered by these alone has an exact total for free. */
export interface CountFilter {
  status?: readonly TaskStatus[];
  type?: string;
  priority?: TaskPriority;
}

/** How many tasks match a filter over status, type and priority. */
export async function countTasksBy(ex: Executor, f: CountFilter): Promise<number> {
  const where: SQL[] = [];
  if (f.status) where.push(sql`status = ANY(${sql.param([...f.status])}::task_status[])`);
  if (f.type) where.push(sql`type = ${f.type}`);
  if (f.priority) where.push(sql`priority = ${f.priority}::task_priority`);
  const res = await ex.execute<{ n: string | null }>(
    sql`SELECT sum(n) AS n FROM task_count_deltas ${where.length ? sql`WHERE ${sql.join(where, sql` AND `)}` : sql``}`,
  );
  return Number(res.rows[0]?.n ?? 0);
}

/** Tasks counted by status and type (one row per pair that has any). */
export async function countTasksByStatusAndType(ex: Executor): Promise<Array<{ status: TaskStatus; type: string; n: number }>> {
  const res = await ex.execute<{ status: TaskStatus; type: string; n: number }>(
    sql`SELECT status, type, sum(n)::int AS n FROM task_count_deltas GROUP BY status, type HAVING sum(n) <> 0`,
  );
  return res.rows;
}

/**
 * Folds the deltas into one row per group. Concurrent folds and writers are safe: a fold deletes the rows it saw and
 * inserts their sums in one statement; rows written meanwhile stay for the next fold, and a row two folds both saw
 * is deleted (and summed) by one of them only.
 */
export async function foldTaskCounts(ex: Executor): Promise<void> {
  await ex.execute(sql`
    WITH d AS (DELETE FROM task_count_deltas RETURNING status, type, priority, n)
    INSERT INTO task_count_deltas (status, type, priority, n)
    SELECT status, type, priority, sum(n) FROM d GROUP BY 1, 2, 3 HAVING sum(n) <> 0`);
}
