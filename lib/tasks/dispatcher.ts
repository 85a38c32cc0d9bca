import { setTimeout as sleep } from 'node:timers/promises';
import { config, runCheckEveryMs } from '#lib/config';
import { db } from '#lib/db/client';
import { foldTaskCounts } from '#lib/db/counts';
import { requeueExpiredLeases } from '#lib/db/leases';
import { republishStalePending } from '#lib/db/outbox';
import { logger } from '#lib/logger';
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
  // Keeps the task counts a few dozen rows to sum (lib/db/counts.ts).
  await foldTaskCounts(db());
  return dispatchOutbox();
}

/**
 * Runs the maintenance every `everyMs` for `forMs` (once when `forMs` is 0): a schedule that fires once a minute
 * still finds lost runs within seconds. Returns how many messages were published in all.
 */
export async function runMaintenanceRepeatedly({
  forMs = 0,
  everyMs = 10_000,
}: {
  forMs?: number;
  everyMs?: number;
} = {}): Promise<number> {
  const until = Date.now() + forMs;
  let published = await runMaintenance();
  while (Date.now() + everyMs <= until) {
    await sleep(everyMs);
    published += await runMaintenance();
  }
  return published;
}
