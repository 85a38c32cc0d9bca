import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { config, runCheckEveryMs } from '#lib/config';
import { db } from '#lib/db/client';
import { foldTaskCounts } from '#lib/db/counts';
import { requeueExpiredLeases } from '#lib/db/leases';
import { republishStalePending } from '#lib/db/outbox';
import { deleteExpiredDeadLetters, deleteExpiredTasks } from '#lib/db/retention';
import { logger } from '#lib/logger';
import { withRequestContext } from '#lib/request-context';
import { runCallbackSenderFor } from '#lib/tasks/callbacks';
import { deadLetterFailedTask } from '#lib/tasks/dead-letters';
import { dispatchOutbox } from '#lib/tasks/outbox';
import { releaseDue, runReleaseLoop } from '#lib/tasks/scheduler';
import { logStatusChange } from '#lib/tasks/status-log';
import { releaseHeld } from '#lib/tasks/task-types';

/**
 * Longest a maintenance round spends releasing due tasks, and publishing the outbox: a round that starts near the end
 * of a scheduled run (62 s, in a function of 80 s) still ends in time with a large backlog; the rest waits a round.
 */
const ROUND_BUDGET_MS = 5_000;

/** Rows deleted per retention statement: a short transaction each, so that writes of new tasks never wait long. */
export const RETENTION_BATCH = 1_000;
/** Longest a maintenance run spends on retention; what is left waits for the next run. */
const RETENTION_BUDGET_MS = 5_000;
/** Between two retention statements: the disk and the locks are left to the other writers for a moment. */
const RETENTION_PAUSE_MS = 20;

/**
 * Deletes, a batch per statement, the tasks that finished more than RETENTION_DAYS ago with their events and dead
 * letters, then the dead letters that old; for at most `budgetMs` (0 days: nothing). Returns what went, and whether
 * nothing expired is left.
 */
export async function deleteExpired({ budgetMs = RETENTION_BUDGET_MS, batch = RETENTION_BATCH } = {}): Promise<{
  tasks: number;
  deadLetters: number;
  done: boolean;
}> {
  const days = config().RETENTION_DAYS;
  const deleted = { tasks: 0, deadLetters: 0, done: true };
  if (days === 0) return deleted;
  const until = performance.now() + budgetMs;
  const drain = async (step: () => Promise<number>): Promise<number> => {
    let total = 0;
    for (;;) {
      const n = await step();
      total += n;
      if (n < batch) return total;
      if (performance.now() >= until) {
        deleted.done = false;
        return total;
      }
      await sleep(RETENTION_PAUSE_MS);
    }
  };
  deleted.tasks = await drain(() => deleteExpiredTasks(db(), days, batch));
  if (deleted.done) deleted.deadLetters = await drain(() => deleteExpiredDeadLetters(db(), days, batch));
  if (deleted.tasks || deleted.deadLetters) logger.info('retention: expired rows deleted', { retention_days: days, ...deleted });
  return deleted;
}

/**
 * The scheduled maintenance: releases the SCHEDULED tasks that are due, queues again the tasks whose run was lost
 * (its lease lapsed), the PENDING tasks whose message may be gone and held tasks whose type has room, then publishes
 * what the outbox holds (theirs among it), and last deletes what is past retention. Returns how many messages were
 * published (released tasks apart).
 */
export async function runMaintenance(): Promise<number> {
  // Two of a live run's checks and a margin: time for a run cut off from the database to take its task back.
  const graceMs = 2 * runCheckEveryMs() + 2_000;
  await releaseDue(ROUND_BUDGET_MS);
  const lost = await requeueExpiredLeases(db(), config().LEASE_MS, graceMs);
  if (lost.length) logger.warn('tasks whose worker was lost', { tasks: lost.map(({ id, status }) => ({ id, status })) });
  for (const run of lost) {
    // The line of each status change, with the id of the request that created the task, as its runs' lines.
    const context = { request_id: run.request_id ?? randomUUID(), task_id: run.id };
    const change = { task_id: run.id, type: run.type, from: run.prev_status, to: run.status, reason: 'lease expired' };
    withRequestContext(context, () => logStatusChange(change));
    // Failed, lost once too often: a final failure like one its run reports.
    if (run.status === 'FAILED') await withRequestContext(context, () => deadLetterFailedTask(run.id, run.attempts, run.error));
  }
  const stale = await republishStalePending(db(), config().REPUBLISH_PENDING_AFTER_MS, 500);
  if (stale.length) logger.warn('PENDING tasks waiting long with no outbox row: their messages are published again', { task_ids: stale });
  // Held tasks whose type has room that no run's end let go (a cap raised elsewhere, a run lost or claimed before the cap).
  await releaseHeld();
  // Keeps the task counts a few dozen rows to sum (lib/db/counts.ts).
  await foldTaskCounts(db());
  const published = await dispatchOutbox(ROUND_BUDGET_MS);
  await deleteExpired();
  return published;
}

/**
 * Runs the maintenance every `everyMs` for `forMs` (once when `forMs` is 0): a schedule that fires once a minute
 * still finds lost runs within seconds. Meanwhile the releaser runs on its own, finer cadence (RELEASE_INTERVAL_MS),
 * so that scheduled tasks start within a second of their time without running the heavier maintenance that often,
 * and (when `forMs` is not 0) it sends task callbacks, taking new ones only while an attempt can still end before the
 * invocation's `remainingMs` is up. Returns how many messages were published in all.
 */
export async function runMaintenanceRepeatedly({
  forMs = 0,
  everyMs = 10_000,
  remainingMs = Number.POSITIVE_INFINITY,
}: {
  forMs?: number;
  everyMs?: number;
  /** How long the invocation may still run (the Lambda context's remaining time). */
  remainingMs?: number;
} = {}): Promise<number> {
  const until = Date.now() + forMs;
  const releasing = forMs > 0 ? runReleaseLoop({ everyMs: config().RELEASE_INTERVAL_MS, forMs }) : Promise.resolve(0);
  // An attempt may take CALLBACK_TIMEOUT_MS: the last one is taken early enough to end, with a margin, in time.
  const callbacksForMs = Math.min(forMs, remainingMs - config().CALLBACK_TIMEOUT_MS - 2_000);
  const sending = callbacksForMs > 0 ? runCallbackSenderFor(callbacksForMs) : Promise.resolve();
  // A round that fails (a step's statement timed out, the database away) is logged, and the next round goes on, as
  // the releaser's and the schedules' loops do: one failing step must not stop finding lost runs for the invocation.
  const round = async (): Promise<number> => {
    try {
      return await runMaintenance();
    } catch (err) {
      if (forMs === 0) throw err;
      logger.error('maintenance round failed; the next one goes on', { error: err as Error });
      return 0;
    }
  };
  try {
    let published = await round();
    while (Date.now() + everyMs <= until) {
      await sleep(everyMs);
      published += await round();
    }
    return published;
  } finally {
    await Promise.all([releasing, sending]);
  }
}
