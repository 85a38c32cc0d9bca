import { onLambda } from '#lib/config';
import { db } from '#lib/db/client';
import { countTasksByStatusAndType } from '#lib/db/counts';
import { logger } from '#lib/logger';
import { prometheusText, recordGauges } from '#lib/metrics';
import { TASK_STATUSES } from '#lib/model';
import { QUEUES } from '#lib/queue/types';
import { countDeadLetters } from '#lib/tasks/dead-letters';
import { depthOrNull } from '#lib/tasks/stats';

/**
 * Reads the gauges from PostgreSQL and the queue (tasks by status, each queue's depth, the dead letters recorded): they hold
 * across processes and containers, where counters do not. A queue that does not answer in time is left out.
 */
export async function refreshGauges(): Promise<void> {
  const [pairs, depths, dead] = await Promise.all([
    countTasksByStatusAndType(db()),
    Promise.all(QUEUES.map((q) => depthOrNull(q))),
    countDeadLetters(),
  ]);
  const tasks: Record<string, number> = Object.fromEntries(TASK_STATUSES.map((s) => [s, 0]));
  for (const { status, n } of pairs) tasks[status] = (tasks[status] ?? 0) + n;
  recordGauges({
    tasks,
    queueDepth: Object.fromEntries(QUEUES.map((q, i) => [q, depths[i] ?? null])),
    deadLetters: Object.fromEntries(QUEUES.map((q) => [q, dead[q]])),
  });
}

/** GET /metrics: the gauges read now, with the counters and histograms of this process, as Prometheus text. */
export async function metricsText(): Promise<{ contentType: string; body: string }> {
  await refreshGauges();
  return prometheusText();
}

/**
 * The scheduled maintenance's part on deployed stages: the gauges as CloudWatch metrics (lib/metrics.ts writes
 * them on Lambda only), once a run. A failure is logged; the maintenance's own work is done by then.
 */
export async function publishGauges(): Promise<void> {
  // Locally the gauges are read when /metrics is scraped; reading them at every dispatcher run would be wasted.
  if (!onLambda()) return;
  await refreshGauges().catch((err) => logger.warn('gauges not published', { error: err as Error }));
}
