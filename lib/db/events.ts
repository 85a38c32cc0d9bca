import { type SQL, sql } from 'drizzle-orm';
import { arrayOf } from '#lib/db/arrays';
import type { MOVES, TaskStatus } from '#lib/model';

type Move = (typeof MOVES)[keyof typeof MOVES];

/** A status as a statement value. */
export const status = (s: TaskStatus) => sql`${s}::task_status`;

/** The statuses a move may start from, as one array value (for `= ANY(...)`). */
export const fromOf = (m: Move) => arrayOf(m.from, 'task_status');

/** One kind of event for the rows of a CTE: from and to (a status, or a column of the CTE), why, and for which rows. */
export interface EventSpec {
  from: SQL;
  to: SQL;
  reason: SQL | string;
  where?: SQL;
  /** For the events of a failed attempt: the attempt's number and its error (columns or values); NULL otherwise. */
  failedAttempt?: { attempt: SQL; error: SQL };
}

/** An event for the rows of a CTE that made `move` (their previous status in `prev_status`, unless given). */
export const moved = (m: Move, reason: SQL | string, where?: SQL, from: SQL = sql`prev_status`): EventSpec => ({
  from,
  to: status(m.to),
  reason,
  where,
});

/**
 * The statement part that records status changes: one event per row of the CTE `cte` (columns `id`, `updated_at`,
 * and those the specs name) and spec, in the order of the specs, timed at the row's `updated_at`. Every status
 * change in the data layer writes its events through this.
 */
export function recordEvents(cte: string, ...specs: EventSpec[]): SQL {
  const selects = specs.map(
    (e) =>
      sql`SELECT id, ${e.from}, ${e.to}, updated_at, ${e.reason}, ${e.failedAttempt?.attempt ?? sql`NULL`}::int, ${e.failedAttempt?.error ?? sql`NULL`}::text FROM ${sql.raw(cte)}${e.where ? sql` WHERE ${e.where}` : sql``}`,
  );
  return sql`INSERT INTO task_events (task_id, from_status, to_status, at, reason, attempt, error) ${sql.join(selects, sql` UNION ALL `)}`;
}
