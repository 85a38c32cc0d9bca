// The API's shapes come from the zod schemas the service validates and documents with; only types are imported
// from there (nothing of zod is bundled), and the status lists from the module that defines them.
import type { z } from 'zod';
import type { TaskEventSchema } from '../../lib/tasks/schemas';
import { FROM, TASK_PRIORITIES, TASK_STATUSES, type TaskStatus, TERMINAL_STATUSES } from '../../lib/tasks/status';

export type { BulkActionResult, Stats, Task, TaskListItem, TaskTypeList } from '../../lib/tasks/schemas';
export type { TaskPriority, TaskStatus } from '../../lib/tasks/status';
export type TaskEvent = z.output<typeof TaskEventSchema>;

export const STATUSES = TASK_STATUSES;
export const PRIORITIES = TASK_PRIORITIES;
export const isTerminal = (s: TaskStatus): boolean => TERMINAL_STATUSES.includes(s);
export const canCancel = (s: TaskStatus): boolean => (FROM.cancel as readonly TaskStatus[]).includes(s);
export const canRetry = (s: TaskStatus): boolean => (FROM.retry as readonly TaskStatus[]).includes(s);
