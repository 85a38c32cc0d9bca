import { logger } from '#lib/logger';
import { countTaskCreated, countTaskFinished } from '#lib/metrics';
import { isTerminal, type TaskStatus } from '#lib/model';

/** A status change of a task, as its log line says it. */
export interface StatusChange {
  task_id: string;
  /** The task's type (a label of the counters). */
  type: string;
  from: TaskStatus | null;
  to: TaskStatus;
  reason: string;
  [extra: string]: unknown;
}

/**
 * The one log line of a create (`from: null`) or of a status change (info, structured), and the counters of
 * tasks created and finished (lib/metrics.ts). Its `request_id` is that
 * of the request or run it happens in (lib/request-context.ts): the create's request id for a task's runs.
 */
export function logStatusChange(change: StatusChange): void {
  logger.info(change.from === null ? 'task created' : 'task status changed', change);
  if (change.from === null) countTaskCreated({ type: change.type });
  else if (isTerminal(change.to)) countTaskFinished({ type: change.type, status: change.to });
}
