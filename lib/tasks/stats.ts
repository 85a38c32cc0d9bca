import { db } from '#lib/db/client';
import { countTasksByStatusAndType } from '#lib/db/counts';
import { countPerMinute } from '#lib/db/stats';
import { logger } from '#lib/logger';
import { TASK_STATUSES, type TaskStatus } from '#lib/model';
import { queue } from '#lib/queue/client';
import type { AnyQueueName } from '#lib/queue/types';
import type { Stats } from '#lib/tasks/schemas';
import { TASK_TYPE_NAMES } from '#lib/tasks/types/index';
import { withTimeout } from '#lib/time';

/** The longest wait for the queue to tell its depth; the stats answer without it rather than late. */
export const QUEUE_DEPTH_TIMEOUT_MS = 1_500;

type StatusCounts = Record<TaskStatus, number>;

const zeros = (): StatusCounts => Object.fromEntries(TASK_STATUSES.map((s) => [s, 0])) as StatusCounts;

async function depthOrNull(name: AnyQueueName): Promise<number | null> {
  try {
    return await withTimeout(queue().depth(name), QUEUE_DEPTH_TIMEOUT_MS, 'queue depth');
  } catch (err) {
    logger.warn('queue depth unavailable', { queue: name, error: err as Error });
    return null;
  }
}

/** Counts by status and type, created/completed/failed per minute over the last hour, and the queue's depth. */
export async function getStats(): Promise<Stats> {
  const [pairs, minutes, depth, deadLetters] = await Promise.all([
    countTasksByStatusAndType(db()),
    countPerMinute(db(), 60),
    depthOrNull('tasks'),
    depthOrNull('tasks.dlq'),
  ]);
  const byStatus = zeros();
  const byType = new Map<string, { type: string; total: number; by_status: StatusCounts }>(
    TASK_TYPE_NAMES.map((type) => [type, { type, total: 0, by_status: zeros() }]),
  );
  for (const { status, type, n } of pairs) {
    byStatus[status] += n;
    let entry = byType.get(type);
    if (!entry) {
      entry = { type, total: 0, by_status: zeros() };
      byType.set(type, entry);
    }
    entry.total += n;
    entry.by_status[status] += n;
  }
  return {
    generated_at: new Date().toISOString(),
    total: Object.values(byStatus).reduce((a, b) => a + b, 0),
    by_status: byStatus,
    by_type: [...byType.values()].sort((a, b) => (a.type < b.type ? -1 : a.type > b.type ? 1 : 0)),
    throughput: minutes.map((m) => ({ minute: m.minute.toISOString(), created: m.created, completed: m.completed, failed: m.failed })),
    queue: { driver: queue().driver, depth, dead_letters: deadLetters },
  };
}
