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
