export const TASK_STATUSES = ['NEW', 'PENDING', 'IN_PROGRESS', 'COMPLETED', 'FAILED', 'CANCELLED'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

export const TASK_PRIORITIES = ['LOW', 'MEDIUM', 'HIGH'] as const;
export type TaskPriority = (typeof TASK_PRIORITIES)[number];

export const TERMINAL_STATUSES: readonly TaskStatus[] = ['COMPLETED', 'FAILED', 'CANCELLED'];

/** The statuses each operation may start from; every status change is a conditional update on these. */
export const FROM = {
  enqueue: ['NEW'],
  claim: ['PENDING'],
  complete: ['IN_PROGRESS'],
  fail: ['IN_PROGRESS'],
  requeue: ['IN_PROGRESS'],
  cancel: ['NEW', 'PENDING', 'IN_PROGRESS'],
  retry: ['FAILED', 'CANCELLED'],
  update: ['NEW', 'PENDING'],
} as const satisfies Record<string, readonly TaskStatus[]>;

/** Queue priority of a task priority (RabbitMQ `x-max-priority` 10). */
export const QUEUE_PRIORITY: Record<TaskPriority, number> = { LOW: 1, MEDIUM: 5, HIGH: 9 };

/** Whether a status is final (no automatic move leaves it). */
export const isTerminal = (s: TaskStatus): boolean => TERMINAL_STATUSES.includes(s);
