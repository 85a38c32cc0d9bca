// The API's shapes come from the zod schemas the service validates and documents with; only types are imported
// from there (nothing of zod is bundled), and the status lists from the module that defines them.
import type { z } from 'zod';
import { MOVES, TASK_PRIORITIES, TASK_STATUSES, type TaskStatus, TERMINAL_STATUSES } from '../../lib/model';
import type { CallbackAttemptSchema, TaskEventSchema } from '../../lib/tasks/schemas';

export type { TaskPriority, TaskStatus } from '../../lib/model';
export type {
  BulkActionResult,
  DeadLetter,
  Schedule,
  Stats,
  Task,
  TaskListItem,
  TaskTypeItem,
  TaskTypeList,
} from '../../lib/tasks/schemas';
export type CallbackAttempt = z.output<typeof CallbackAttemptSchema>;
/**
 * A change of a task's status. A failed attempt's event carries the attempt's number and its error (optional here,
 * so that the dashboard also reads a service whose events do not have them yet).
 */
export type TaskEvent = z.output<typeof TaskEventSchema> & { attempt?: number | null; error?: string | null };

export const STATUSES = TASK_STATUSES;
export const PRIORITIES = TASK_PRIORITIES;
export const isTerminal = (s: TaskStatus): boolean => TERMINAL_STATUSES.includes(s);
export const canCancel = (s: TaskStatus): boolean => (MOVES.cancel.from as readonly TaskStatus[]).includes(s);
export const canRetry = (s: TaskStatus): boolean => (MOVES.retry.from as readonly TaskStatus[]).includes(s);
