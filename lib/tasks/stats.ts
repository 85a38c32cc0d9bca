import { db } from '#lib/db/client';
import { countTasksByStatusAndType } from '#lib/db/counts';
import { countPerMinute } from '#lib/db/stats';
import { logger } from '#lib/logger';
import { TASK_STATUSES, type TaskStatus } from '#lib/model';
import { queue } from '#lib/queue/client';
import type { AnyQueueName } from '#lib/queue/types';
import { countDeadLetters } from '#lib/tasks/dead-letters';
import type { Stats } from '#lib/tasks/schemas';
import { TASK_TYPE_NAMES } from '#lib/tasks/types/index';
import { withTimeout } from '#lib/time';

/** The longest wait for the queue to tell its depth; the stats answer without it rather than late. */
export const QUEUE_DEPTH_TIMEOUT_MS = 1_500;

type StatusCounts = Record<TaskStatus, number>;

const zeros = (): StatusCounts => Object.fromEntries(TASK_STATUSES.map((s) => [s, 0])) as StatusCounts;

/** A queue's depth, or null when it does not answer within QUEUE_DEPTH_TIMEOUT_MS. */
export async function depthOrNull(name: AnyQueueName): Promise<number | null> {
  try {
    return await withTimeout(queue().depth(name), QUEUE_DEPTH_TIMEOUT_MS, 'queue depth');
  } catch (err) {
    logger.warn('queue depth unavailable', { queue: name, error: err as Error });
    return null;
  }
}

// Depths being asked, by queue: stats asked meanwhile take the same answer instead of asking again. RabbitMQ's depth
// checks each queue and its delay queues on a channel of its own (14 channels per stats, about 60 ms here), and 8
// dashboards at once made it the stats' cost (p95 189 ms at 1 M tasks, the database's part being 3 ms). Hand-written:
// a shared promise is all it takes, no cache (an answer is never reused once given).
const asking = new Map<AnyQueueName, Promise<number | null>>();

function sharedDepth(name: AnyQueueName): Promise<number | null> {
  let depth = asking.get(name);
  if (!depth) {
    depth = depthOrNull(name).finally(() => asking.delete(name));
    asking.set(name, depth);
  }
  return depth;
}

/** Counts by status and type, created/completed/failed per minute over the last hour, the queue's depth, the dead letters. */
export async function getStats(): Promise<Stats> {
  const [pairs, minutes, depth, deadLetters] = await Promise.all([
    countTasksByStatusAndType(db()),
    countPerMinute(db(), 60),
    sharedDepth('tasks'),
    countDeadLetters(),
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
    queue: {
      driver: queue().driver,
      depth,
      dead_letters: deadLetters.tasks + deadLetters.task_intake,
      dead_letters_by_queue: deadLetters,
    },
  };
}
