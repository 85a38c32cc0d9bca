import { setTimeout as sleep } from 'node:timers/promises';
import { config, runCheckEveryMs } from '#lib/config';
import { db } from '#lib/db/client';
import { requeueExpiredLeases } from '#lib/db/leases';
import { republishStalePending } from '#lib/db/outbox';
import { logger } from '#lib/logger';
import { runCallbackSenderFor } from '#lib/tasks/callbacks';
import { dispatchOutbox } from '#lib/tasks/outbox';

/**
 * The scheduled maintenance: queues again the tasks whose run was lost (its lease lapsed) and the PENDING tasks
 * whose message may be gone, then publishes what the outbox holds (theirs among it). Returns how many messages
 * were published.
 */
export async function runMaintenance(): Promise<number> {
  // Two of a live run's checks and a margin: time for a run cut off from the database to take its task back.
  const graceMs = 2 * runCheckEveryMs() + 2_000;
  const lost = await requeueExpiredLeases(db(), config().LEASE_MS, graceMs);
  if (lost.length) logger.warn('tasks whose worker was lost', { tasks: lost });
  const stale = await republishStalePending(db(), config().REPUBLISH_PENDING_AFTER_MS, 500);
  if (stale.length) logger.warn('PENDING tasks waiting long with no outbox row: their messages are published again', { task_ids: stale });
  return dispatchOutbox();
}

/**
 * Runs the maintenance every `everyMs` for `forMs` (once when `forMs` is 0): a schedule that fires once a minute
 * still finds lost runs within seconds. Meanwhile (when `forMs` is not 0) it sends task callbacks, taking new ones
 * only while an attempt can still end before the invocation's `remainingMs` is up. Returns how many messages were
 * published in all.
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
  // An attempt may take CALLBACK_TIMEOUT_MS: the last one is taken early enough to end, with a margin, in time.
  const callbacksForMs = Math.min(forMs, remainingMs - config().CALLBACK_TIMEOUT_MS - 2_000);
  const sending = callbacksForMs > 0 ? runCallbackSenderFor(callbacksForMs) : Promise.resolve();
  try {
    let published = await runMaintenance();
    while (Date.now() + everyMs <= until) {
      await sleep(everyMs);
      published += await runMaintenance();
    }
    return published;
  } finally {
    await sending;
  }
}
