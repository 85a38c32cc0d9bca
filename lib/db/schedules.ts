import { and, count, desc, eq, isNotNull, lte, sql } from 'drizzle-orm';
import type { Executor } from '#lib/db/client';
import { type ScheduleRow, schedules } from '#lib/db/schema';

/** The stored fields of a schedule that a client sets. */
export interface ScheduleValues {
  name: string;
  cron: string;
  timezone: string;
  task: Record<string, unknown>;
  enabled: boolean;
  next_run_at: Date | null;
}

/** Inserts a schedule; undefined when its name is taken. */
export async function insertSchedule(ex: Executor, values: ScheduleValues): Promise<ScheduleRow | undefined> {
  const [row] = await ex.insert(schedules).values(values).onConflictDoNothing({ target: schedules.name }).returning();
  return row;
}

/** The schedule with this id, if any; `lock` takes its row for the transaction. */
export async function findSchedule(ex: Executor, id: string, lock = false): Promise<ScheduleRow | undefined> {
  const query = ex.select().from(schedules).where(eq(schedules.id, id)).limit(1);
  const [row] = lock ? await query.for('update') : await query;
  return row;
}

/** One page of schedules, newest first, with the total count. */
export async function listSchedules(ex: Executor, page: { limit: number; offset: number }) {
  const [items, [total]] = await Promise.all([
    ex.select().from(schedules).orderBy(desc(schedules.created_at), desc(schedules.id)).limit(page.limit).offset(page.offset),
    ex.select({ n: count() }).from(schedules),
  ]);
  return { items, total: total?.n ?? 0 };
}

/** PostgreSQL's unique_violation, as pg raises it or as drizzle wraps it. */
const isUniqueViolation = (err: unknown) =>
  ((err as { cause?: { code?: unknown } })?.cause?.code ?? (err as { code?: unknown })?.code) === '23505';

/** Changes a schedule; undefined when there is none with this id, `name_taken` when another one has the new name. */
export async function updateSchedule(
  ex: Executor,
  id: string,
  values: Partial<ScheduleValues>,
): Promise<ScheduleRow | undefined | 'name_taken'> {
  try {
    const [row] = await ex
      .update(schedules)
      .set({ ...values, updated_at: sql`now()` })
      .where(eq(schedules.id, id))
      .returning();
    return row;
  } catch (err) {
    if (isUniqueViolation(err)) return 'name_taken';
    throw err;
  }
}

/** Deletes a schedule (its tasks stay, their `schedule_id` set to NULL); false when there was none. */
export async function deleteSchedule(ex: Executor, id: string): Promise<boolean> {
  const rows = await ex.delete(schedules).where(eq(schedules.id, id)).returning({ id: schedules.id });
  return rows.length > 0;
}

/**
 * Takes, for the caller's transaction, up to `limit` enabled schedules whose next run is due, earliest first,
 * skipping those another scheduler holds; with the database's time of the transaction.
 */
export async function lockDueSchedules(ex: Executor, limit: number): Promise<{ rows: ScheduleRow[]; now: Date }> {
  const rows = await ex
    .select()
    .from(schedules)
    .where(and(eq(schedules.enabled, true), isNotNull(schedules.next_run_at), lte(schedules.next_run_at, sql`now()`)))
    .orderBy(schedules.next_run_at)
    .limit(limit)
    .for('update', { skipLocked: true });
  // As epoch milliseconds: a raw query gives a timestamp as text in PostgreSQL's own format.
  const clock = await ex.execute<{ ms: number }>(sql`SELECT (extract(epoch FROM now()) * 1000)::float8 AS ms`);
  return { rows, now: new Date(clock.rows[0]?.ms as number) };
}

/** Records the run of a schedule: its next due time and when the last run was created. */
export async function advanceSchedule(ex: Executor, id: string, nextRunAt: Date | null, lastRunAt: Date | null): Promise<void> {
  await ex.update(schedules).set({ next_run_at: nextRunAt, last_run_at: lastRunAt, updated_at: sql`now()` }).where(eq(schedules.id, id));
}
