import { setTimeout as sleep } from 'node:timers/promises';
import { config } from '#lib/config';
import { db } from '#lib/db/client';
import { requeueExpiredLeases } from '#lib/db/leases';
import { logger } from '#lib/logger';
import { dispatchOutbox } from '#lib/tasks/outbox';

/**
 * The scheduled maintenance: queues again the tasks whose run was lost (its lease lapsed), then publishes what the
 * outbox holds (theirs among it). Returns how many messages were published.
 */
export async function runMaintenance(): Promise<number> {
  const lost = await requeueExpiredLeases(db(), config().LEASE_MS);
  if (lost.length) logger.warn('tasks whose worker was lost', { tasks: lost });
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
