import { config } from '#lib/config';
import { db } from '#lib/db/client';
import { deleteOutboxRows, lockStaleOutboxRows, markTasksQueued } from '#lib/db/outbox';
import { requeueExpiredLeases } from '#lib/db/tasks';
import { logger } from '#lib/logger';
import { queue } from '#lib/queue/client';
import type { AnyQueueName } from '#lib/queue/types';
import { TASK_TYPES } from '#lib/tasks/types/index';

/** Rows younger than this are still being published by the request that wrote them. */
const GRACE_MS = 2_000;
const BATCH = 200;
const TASK_TYPE_TIMEOUTS = Object.fromEntries(Object.values(TASK_TYPES).map((t) => [t.name, t.timeoutMs]));

/**
 * Requeues tasks whose worker was lost, then publishes the outbox rows left behind (a broker that was down,
 * a crash between commit and publish, a lost worker's task).
 * Each batch is one transaction: tasks move NEW -> PENDING, the messages are published, the rows deleted;
 * a failed publish rolls the batch back for the next run. Returns how many messages were published.
 */
export async function dispatchOutbox(): Promise<number> {
  const lost = await requeueExpiredLeases(db(), config().LEASE_FACTOR, TASK_TYPE_TIMEOUTS);
  if (lost.length) logger.warn('tasks whose worker was lost', { tasks: lost });
  let total = 0;
  for (;;) {
    const published = await db().transaction(async (tx) => {
      const rows = await lockStaleOutboxRows(tx, GRACE_MS, BATCH);
      if (!rows.length) return 0;
      const taskIds = rows.map((r) => r.body.task_id).filter((id): id is string => typeof id === 'string');
      await markTasksQueued(tx, taskIds);
      const byQueue = new Map<string, typeof rows>();
      for (const r of rows) {
        const group = byQueue.get(r.queue);
        if (group) group.push(r);
        else byQueue.set(r.queue, [r]);
      }
      for (const [name, group] of byQueue) {
        await queue().publish(
          name as AnyQueueName,
          group.map((r) => ({ body: JSON.stringify(r.body), priority: r.priority })),
        );
      }
      await deleteOutboxRows(
        tx,
        rows.map((r) => r.id),
      );
      return rows.length;
    });
    total += published;
    if (published < BATCH) break;
  }
  if (total) logger.info('outbox dispatched', { published: total });
  return total;
}
