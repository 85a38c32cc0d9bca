import { sql } from 'drizzle-orm';
import { arrayOf, uuids } from '#lib/db/arrays';
import type { Executor } from '#lib/db/client';
import { fromOf, moved, recordEvents, status } from '#lib/db/events';
import { insertTaskMessages } from '#lib/db/outbox';
import { MOVES, type TaskStatus } from '#lib/model';

/** The status of a task whose run is going on. */
const RUNNING = status(MOVES.claim.to);

// Leases by heartbeat. A claimed run holds its task while it renews `heartbeat_at` every few seconds; once a run
// has not been heard of for a lease, its worker is taken for lost and the task is queued again. A run's identity
// is its `started_at`: a later run of the same task is never mistaken for it.

/** One run of a task: the task id and the run's `started_at`. */
export interface Run {
  id: string;
  startedAt: string;
}

/** The runs as a table `r(id, started_at, n)`, `n` numbering them from 1 in the order given. */
const runsTable = (runs: readonly Run[]) =>
  sql`unnest(${uuids(runs.map((r) => r.id))}, ${arrayOf(
    runs.map((r) => r.startedAt),
    'timestamptz',
  )}) WITH ORDINALITY AS r(id, started_at, n)`;

/** Which of the given runs (true or false, in their order) are still their task's running run. */
const byPosition = (runs: readonly Run[], rows: Array<{ n: string | number }>) => {
  const found = new Set(rows.map((r) => Number(r.n)));
  return runs.map((_, i) => found.has(i + 1));
};

/** For each given run, in order, whether it is still its task's running run (not cancelled, finished or replaced). */
export async function currentRuns(ex: Executor, runs: readonly Run[]): Promise<boolean[]> {
  if (!runs.length) return [];
  const res = await ex.execute<{ n: string }>(sql`
    SELECT r.n FROM ${runsTable(runs)} JOIN tasks t ON t.id = r.id AND t.started_at = r.started_at
    WHERE t.status = ${RUNNING}`);
  return byPosition(runs, res.rows);
}

/**
 * Renews the leases of live runs and answers, for each in order, whether it is still current. A run whose lease lapsed
 * while it could not reach the database, and whose task has not been started again, takes its task back
 * (PENDING -> IN_PROGRESS, with the event): the message the lapse queued then finds it running and is dropped.
 */
export async function renewLeases(ex: Executor, runs: readonly Run[]): Promise<boolean[]> {
  if (!runs.length) return [];
  const res = await ex.execute<{ n: string }>(sql`
    WITH prev AS (
      SELECT t.id, t.status, r.n FROM tasks t JOIN ${runsTable(runs)} ON t.id = r.id AND t.started_at = r.started_at
      -- A task in PENDING is taken back only when its lease lapsed (its heartbeat kept); a run that requeued its task
      -- itself (a failed attempt) cleared the heartbeat.
      WHERE (t.status = ${RUNNING} OR (t.status = ANY(${fromOf(MOVES.resume)}) AND t.heartbeat_at IS NOT NULL))
      ORDER BY t.id FOR UPDATE OF t
    ),
    u AS (
      UPDATE tasks t SET heartbeat_at = now(), status = ${RUNNING},
        updated_at = CASE WHEN prev.status = ${RUNNING} THEN t.updated_at ELSE now() END,
        error = CASE WHEN prev.status = ${RUNNING} THEN t.error ELSE NULL END
      FROM prev WHERE t.id = prev.id
      RETURNING t.id, t.updated_at, prev.status AS prev_status, prev.n
    ),
    e AS (${recordEvents('u', moved(MOVES.resume, 'lease renewed: the run was alive', sql`prev_status <> ${RUNNING}`))})
    SELECT n FROM u`);
  return byPosition(runs, res.rows);
}

/** A task whose run was lost: queued again (PENDING) or, lost too often, FAILED. */
export type LostRun = {
  id: string;
  type: string;
  request_id: string | null;
  prev_status: TaskStatus;
  status: TaskStatus;
  attempts: number;
  error: string;
};

/**
 * Finds runs not heard of for `leaseMs` (their worker died or lost the database) and queues their tasks again
 * (with an outbox row each, published after `graceMs`), or fails them once they have been lost too often.
 *
 * A run that was only cut off from the database (an outage, a failover, a clock step) takes its task back at its
 * next check once the database answers again (renewLeases), and the grace keeps the new message from existing
 * before then. A lease also counts from the database server's start, at least.
 */
export async function requeueExpiredLeases(
  ex: Executor,
  leaseMs: number,
  /** How long the messages of requeued tasks wait in the outbox: time for a live run to take its task back. */
  graceMs: number,
  maxLost = 3,
): Promise<LostRun[]> {
  const res = await ex.execute<LostRun>(sql`
    WITH lost AS (
      SELECT id, status, attempts, max_attempts FROM tasks
      WHERE status = ANY(${fromOf(MOVES.requeue)})
        -- Runs claimed before heartbeats existed have none: their start counts.
        AND coalesce(heartbeat_at, started_at) < now() - make_interval(secs => ${leaseMs}::float8 / 1000.0)
        AND pg_postmaster_start_time() < now() - make_interval(secs => ${leaseMs}::float8 / 1000.0)
      ORDER BY id FOR UPDATE SKIP LOCKED
    ),
    u AS (
      UPDATE tasks t SET
        status = CASE WHEN lost.attempts >= lost.max_attempts + ${maxLost}::int THEN ${status(MOVES.fail.to)} ELSE ${status(MOVES.requeue.to)} END,
        error = 'lease expired: the worker running this attempt was lost',
        progress = NULL,
        finished_at = CASE WHEN lost.attempts >= lost.max_attempts + ${maxLost}::int THEN now() END,
        updated_at = now()
      FROM lost WHERE t.id = lost.id
      RETURNING t.id, t.type, t.request_id, t.status, t.priority, t.updated_at, t.attempts, t.error, lost.status AS prev_status
    ),
    e AS (${recordEvents('u', { from: sql`prev_status`, to: sql`status`, reason: 'lease expired', failedAttempt: { attempt: sql`attempts`, error: sql`error` } })}),
    requeued AS (SELECT id, priority FROM u WHERE status = ${status(MOVES.requeue.to)}),
    o AS (${insertTaskMessages('requeued', graceMs)})
    SELECT id, type, request_id, prev_status, status, attempts, error FROM u`);
  return res.rows;
}
