import { config, onLambda } from '#lib/config';
import { db } from '#lib/db/client';
import { deleteOutboxRows, lockAvailableOutboxRows, markTasksQueued, returnUnpublishedToNew } from '#lib/db/outbox';
import type { TaskRow } from '#lib/db/schema';
import { batched } from '#lib/group-commit';
import { logger } from '#lib/logger';
import { QUEUE_PRIORITY } from '#lib/model';
import { queue } from '#lib/queue/client';
import type { AnyQueueName } from '#lib/queue/types';

// Publishing through the outbox (its SQL and rules: lib/db/outbox.ts). The writer of an outbox row publishes its
// message right after the commit and deletes the row; the dispatcher publishes the rows that are left once they
// are available (the writer died, the broker was down, the delete was lost).

/** A task just written together with the outbox row of its run message (`outbox_id` null: none was written). */
export type Queued = TaskRow & { outbox_id: number | null };

/**
 * How long the dispatcher leaves a row to the writer publishing it: a publish may wait for the batch ahead of it
 * and then for its own confirm, each up to QUEUE_PUBLISH_TIMEOUT_MS. Publishing sooner is harmless (a duplicate
 * message finds its task claimed), but wasted.
 */
export const selfPublishMs = (delayMs = 0) => Math.max(delayMs, 2 * config().QUEUE_PUBLISH_TIMEOUT_MS + 1_000);

/**
 * Deletes the outbox rows of published messages, many in one statement; never rejects. If a delete is lost, the
 * dispatcher publishes the message again, and a duplicate is harmless (claims are conditional).
 */
const deletePublished = batched(
  async (ids: number[]): Promise<undefined[]> => {
    try {
      await deleteOutboxRows(db(), ids);
    } catch (err) {
      logger.warn('could not delete published outbox rows', { error: err as Error });
    }
    return ids.map(() => undefined);
  },
  { maxBatch: 1_000 },
);

/**
 * Puts tasks whose message could not be published back to NEW, except those the dispatcher has published
 * meanwhile. If even that fails (the database went away too), they are answered as stored, PENDING with their
 * outbox rows, rather than with an error that would make a client send them again.
 */
async function fallBackToNew(items: { row: Queued }[]): Promise<TaskRow[]> {
  try {
    const moved = await returnUnpublishedToNew(
      db(),
      items.map(({ row }) => ({ taskId: row.id, outboxId: row.outbox_id as number })),
      'queue unreachable',
    );
    const byId = new Map(moved.map((r) => [r.id, r]));
    return items.map(({ row }) => byId.get(row.id) ?? row);
  } catch (error) {
    logger.warn('could not mark unqueued tasks NEW; their outbox rows have them published later', {
      task_ids: items.map(({ row }) => row.id),
      error: error as Error,
    });
    return items.map(({ row }) => row);
  }
}

/**
 * Publishes the messages of tasks just written with outbox rows, concurrent calls together (see `batched`). On
 * success their outbox rows are deleted after the answer (awaited on Lambda, where a container may be frozen once
 * it has answered); when the queue is unreachable the tasks go back to NEW and the dispatcher publishes them later.
 */
const publishQueued = batched(
  async (items: { row: Queued; delayMs?: number }[]): Promise<TaskRow[]> => {
    try {
      await queue().publish(
        'tasks',
        items.map(({ row, delayMs }) => ({ body: JSON.stringify({ task_id: row.id }), priority: QUEUE_PRIORITY[row.priority], delayMs })),
      );
    } catch (err) {
      logger.warn('queue unreachable; the dispatcher will publish the tasks later', {
        task_ids: items.map(({ row }) => row.id),
        error: err as Error,
      });
      return fallBackToNew(items);
    }
    const deleted = Promise.all(items.map(({ row }) => deletePublished(row.outbox_id as number)));
    if (onLambda()) await deleted;
    return items.map(({ row }) => row);
  },
  { inFlight: 2 },
);

/** Publishes the message of a task that was just written with an outbox row (no-op without one). */
export async function publishAfterCommit(row: Queued, delayMs?: number): Promise<TaskRow> {
  if (row.outbox_id === null) return row;
  return publishQueued({ row, delayMs });
}

const DISPATCH_BATCH = 200;

/**
 * Publishes the outbox rows that are available. Each batch is one transaction: tasks move NEW -> PENDING, the
 * messages are published, the rows deleted; a failed publish rolls the batch back for the next run. Returns how
 * many messages were published.
 */
export async function dispatchOutbox(budgetMs = Number.POSITIVE_INFINITY): Promise<number> {
  let total = 0;
  // Batches are taken while the budget lasts (a scheduled run must end within its function's timeout); what is left
  // waits for the next run.
  const until = Date.now() + budgetMs;
  for (; Date.now() <= until; ) {
    const published = await db().transaction(async (tx) => {
      const rows = await lockAvailableOutboxRows(tx, DISPATCH_BATCH);
      if (!rows.length) return 0;
      const taskIds = rows.map((r) => r.body.task_id).filter((id): id is string => typeof id === 'string');
      await markTasksQueued(tx, taskIds);
      const byQueue = new Map<string, typeof rows>();
      for (const r of rows) byQueue.set(r.queue, [...(byQueue.get(r.queue) ?? []), r]);
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
    if (published < DISPATCH_BATCH) break;
  }
  if (total) logger.info('outbox dispatched', { published: total });
  return total;
}
