import { logger } from '#lib/logger';
import type { TaskStatus } from '#lib/model';

/** A status change of a task, as its log line says it. */
export interface StatusChange {
  task_id: string;
  from: TaskStatus | null;
  to: TaskStatus;
  reason: string;
  [extra: string]: unknown;
}

/**
 * The one log line of a create (`from: null`) or of a status change (info, structured). Its `request_id` is that
 * of the request or run it happens in (lib/request-context.ts): the create's request id for a task's runs.
 */
export function logStatusChange(change: StatusChange): void {
  logger.info(change.from === null ? 'task created' : 'task status changed', change);
}
