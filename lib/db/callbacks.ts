import { asc, eq, sql } from 'drizzle-orm';
import pg from 'pg';
import type { Executor } from '#lib/db/client';
import { callbackAttempts, callbackDeliveries } from '#lib/db/schema';

// Callback deliveries. The row of a delivery is written by a trigger on tasks (drizzle/0006_callback_trigger.sql) in
// the statement that ends the task; senders claim due rows with a lease (`next_attempt_at` moved past the attempt),
// so that any number of senders never make the same attempt at once, and a sender that dies leaves its rows to the
// next one after the lease.

/** The channel the trigger notifies when it writes a delivery (delivered on commit). */
export const CALLBACK_CHANNEL = 'callback_deliveries';

/** A delivery claimed for one attempt. */
export interface ClaimedDelivery {
  id: string;
  task_id: string;
  event: string;
  url: string;
  /** The task row as it was when it ended (to_jsonb: timestamps as ISO text). */
  task: Record<string, unknown>;
  /** The number of this attempt, from 1. */
  attempts: number;
  created_at: Date;
}

/**
 * Whether pending delivery `d` is its task's first one pending. The deliveries of one task go out in the order it ended:
 * a task cancelled, retried and completed while its task.cancelled waits for a retry sends task.completed only after
 * it, so that the receiver's last word is the task's last end.
 */
const FIRST_PENDING_OF_ITS_TASK = sql`NOT EXISTS (
  SELECT 1 FROM callback_deliveries o
  WHERE o.task_id = d.task_id AND o.state = 'pending' AND (o.created_at, o.id) < (d.created_at, d.id))`;

/**
 * Claims up to `limit` due pending deliveries for an attempt each: their attempt count goes up and they are not due
 * again for `leaseMs` (the longest an attempt may take, and a margin), so that no other sender takes them meanwhile.
 */
export async function claimDueDeliveries(ex: Executor, limit: number, leaseMs: number): Promise<ClaimedDelivery[]> {
  const res = await ex.execute<Omit<ClaimedDelivery, 'created_at'> & { created_at: string }>(sql`
    WITH due AS (
      SELECT d.id FROM callback_deliveries d WHERE d.state = 'pending' AND d.next_attempt_at <= now() AND ${FIRST_PENDING_OF_ITS_TASK}
      ORDER BY d.next_attempt_at LIMIT ${limit} FOR UPDATE SKIP LOCKED
    )
    UPDATE callback_deliveries d SET attempts = d.attempts + 1, updated_at = now(),
      next_attempt_at = now() + make_interval(secs => ${leaseMs / 1000})
    FROM due WHERE d.id = due.id
    RETURNING d.id, d.task_id, d.event, d.url, d.task, d.attempts, d.created_at`);
  return res.rows.map((r) => ({ ...r, created_at: new Date(r.created_at) }));
}

/** The outcome of one attempt and what becomes of its delivery. */
export interface AttemptOutcome {
  deliveryId: string;
  taskId: string;
  attempt: number;
  statusCode: number | null;
  error: string | null;
  durationMs: number;
  /** Delivered, tried again after `retryInMs`, or given up. */
  next: { state: 'delivered' } | { state: 'failed' } | { state: 'pending'; retryInMs: number };
}

/**
 * Logs an attempt and settles its delivery in one statement. The delivery changes only if the attempt is still its
 * latest (a sender whose lease lapsed, its delivery taken by another, logs its attempt and changes nothing).
 */
export async function recordAttempt(ex: Executor, o: AttemptOutcome): Promise<void> {
  const retryMs = o.next.state === 'pending' ? o.next.retryInMs : 0;
  await ex.execute(sql`
    WITH u AS (
      UPDATE callback_deliveries SET state = ${o.next.state}::callback_state, updated_at = now(),
        next_attempt_at = now() + make_interval(secs => ${retryMs / 1000})
      WHERE id = ${o.deliveryId} AND attempts = ${o.attempt} AND state = 'pending'
    )
    INSERT INTO callback_attempts (delivery_id, task_id, attempt, status_code, error, duration_ms)
    VALUES (${o.deliveryId}, ${o.taskId}, ${o.attempt}, ${o.statusCode}, ${o.error}, ${Math.round(o.durationMs)})`);
}

/** Milliseconds until the next pending delivery is due (0 when one is due now), or undefined when none is pending. */
export async function nextDeliveryDueInMs(ex: Executor): Promise<number | undefined> {
  // Not greatest(0, ...) in SQL, which skips a NULL: with nothing pending it would answer 0, "due now", and the
  // sender would poll in a busy loop while the service stands idle.
  // The first in the order of the partial index on next_attempt_at that is not held behind an earlier delivery of its
  // task: a walk of the index that stops there, where min() over the held filter would read every pending row.
  const res = await ex.execute<{ ms: string | null }>(sql`
    SELECT extract(epoch FROM d.next_attempt_at - now()) * 1000 AS ms
    FROM callback_deliveries d WHERE d.state = 'pending' AND ${FIRST_PENDING_OF_ITS_TASK}
    ORDER BY d.next_attempt_at LIMIT 1`);
  const ms = res.rows[0]?.ms;
  return ms == null ? undefined : Math.max(0, Number(ms));
}

/** The callback attempts of a task, oldest first, with their delivery's id and event. */
export async function listCallbackAttempts(ex: Executor, taskId: string) {
  return ex
    .select({
      delivery_id: callbackAttempts.delivery_id,
      event: callbackDeliveries.event,
      attempt: callbackAttempts.attempt,
      at: callbackAttempts.at,
      status_code: callbackAttempts.status_code,
      error: callbackAttempts.error,
      duration_ms: callbackAttempts.duration_ms,
    })
    .from(callbackAttempts)
    .innerJoin(callbackDeliveries, eq(callbackDeliveries.id, callbackAttempts.delivery_id))
    .where(eq(callbackAttempts.task_id, taskId))
    .orderBy(asc(callbackAttempts.id));
}

/** The deliveries of a task, oldest first (state and attempts). */
export async function listCallbackDeliveries(ex: Executor, taskId: string) {
  return ex
    .select()
    .from(callbackDeliveries)
    .where(eq(callbackDeliveries.task_id, taskId))
    .orderBy(asc(callbackDeliveries.created_at), asc(callbackDeliveries.id));
}

/** A connection that listens for new deliveries; `closed` settles when it ends (closed, or its server lost). */
export interface DeliveryListener {
  readonly closed: Promise<void>;
  close(): Promise<void>;
}

/**
 * Opens a connection of its own (LISTEN holds it) and calls `onDelivery` whenever a transaction that wrote a
 * delivery commits.
 */
export async function listenForDeliveries(url: string, onDelivery: () => void): Promise<DeliveryListener> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000, application_name: 'callback-sender' });
  let ended = false;
  const closed = new Promise<void>((resolve) => {
    client.on('end', () => {
      ended = true;
      resolve();
    });
    // A lost server ends the connection ('end' follows); the sender then polls and listens again.
    client.on('error', () => {});
  });
  await client.connect();
  client.on('notification', (n) => {
    if (n.channel === CALLBACK_CHANNEL) onDelivery();
  });
  await client.query(`LISTEN ${CALLBACK_CHANNEL}`);
  return {
    closed,
    async close() {
      if (!ended) await client.end().catch(() => {});
    },
  };
}
