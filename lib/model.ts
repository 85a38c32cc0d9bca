// The task model every layer shares (a leaf: it imports nothing): statuses, priorities, and the state machine,
// the moves a task can make between statuses. Every status change in the code is one of MOVES, and every move
// is recorded as an event by one statement part (lib/db/events.ts).

export const TASK_STATUSES = ['SCHEDULED', 'NEW', 'PENDING', 'IN_PROGRESS', 'COMPLETED', 'FAILED', 'CANCELLED'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

export const TASK_PRIORITIES = ['LOW', 'MEDIUM', 'HIGH'] as const;
export type TaskPriority = (typeof TASK_PRIORITIES)[number];

export const TERMINAL_STATUSES: readonly TaskStatus[] = ['COMPLETED', 'FAILED', 'CANCELLED'];

/** Whether a status is final (no automatic move leaves it). */
export const isTerminal = (s: TaskStatus): boolean => TERMINAL_STATUSES.includes(s);

/** Queue priority of a task priority (RabbitMQ `x-max-priority` 10). */
export const QUEUE_PRIORITY: Record<TaskPriority, number> = { LOW: 1, MEDIUM: 5, HIGH: 9 };

interface Move {
  readonly from: readonly TaskStatus[];
  readonly to: TaskStatus;
}

const move = <const F extends readonly TaskStatus[], const T extends TaskStatus>(from: F, to: T) => ({ from, to }) satisfies Move;

/** Every move a task can make, by name: the statuses it may start from and the status it goes to. */
export const MOVES = {
  /** Its message is being published (a new task is stored already PENDING, with its NEW event). */
  queue: move(['NEW'], 'PENDING'),
  /**
   * A SCHEDULED task is due (its `run_at` has come): its message is written to the outbox and published. If that
   * publish fails, the task goes back to NEW (`unqueue`) and the dispatcher queues it (`queue`), as for a create.
   */
  release: move(['SCHEDULED'], 'PENDING'),
  /** Its message could not be published: the outbox publishes it later. */
  unqueue: move(['PENDING'], 'NEW'),
  /** A worker starts a run. */
  claim: move(['PENDING'], 'IN_PROGRESS'),
  /** A run whose lease lapsed while it could not be heard, and whose task did not start again, takes it back. */
  resume: move(['PENDING'], 'IN_PROGRESS'),
  complete: move(['IN_PROGRESS'], 'COMPLETED'),
  fail: move(['IN_PROGRESS'], 'FAILED'),
  /** A failed attempt with attempts left, or a run whose worker was lost: the task runs again. */
  requeue: move(['IN_PROGRESS'], 'PENDING'),
  cancel: move(['SCHEDULED', 'NEW', 'PENDING', 'IN_PROGRESS'], 'CANCELLED'),
  /** POST .../retry: a fresh attempt budget. */
  retry: move(['FAILED', 'CANCELLED'], 'PENDING'),
} as const;

export type MoveName = keyof typeof MOVES;

/** The statuses whose editable fields may change (no move: PATCH keeps the status). */
export const EDITABLE: readonly TaskStatus[] = ['SCHEDULED', 'NEW', 'PENDING'];

/** The statuses in which `run_at` may change (PATCH). */
export const RESCHEDULABLE: readonly TaskStatus[] = ['SCHEDULED'];

/** The statuses a task is created in: NEW (queued at once), SCHEDULED (its `run_at` is in the future). */
export const CREATED_AS: readonly TaskStatus[] = ['NEW', 'SCHEDULED'];

/** Whether `from -> to` is one of the moves (`null -> NEW` and `null -> SCHEDULED` are a task's creation). */
export function isAllowedMove(from: TaskStatus | null, to: TaskStatus): boolean {
  if (from === null) return CREATED_AS.includes(to);
  return Object.values(MOVES).some((m: Move) => m.to === to && m.from.includes(from));
}
