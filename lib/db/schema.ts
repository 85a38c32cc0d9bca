import { sql } from 'drizzle-orm';
import {
  bigint,
  bigserial,
  boolean,
  check,
  index,
  integer,
  jsonb,
  pgEnum,
  pgTable,
  smallint,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';
// Relative: drizzle-kit loads this file without the package's import map.
import { TASK_PRIORITIES, TASK_STATUSES, TERMINAL_STATUSES } from '../model';

export const taskStatus = pgEnum('task_status', TASK_STATUSES);
export const taskPriority = pgEnum('task_priority', TASK_PRIORITIES);

/** `status IN (<the terminal statuses>)`, as literals: a statement must spell it so to use the partial index below. */
export const IS_TERMINAL = sql.raw(`status IN (${TERMINAL_STATUSES.map((s) => `'${s}'`).join(', ')})`);

const ts = (name: string) => timestamp(name, { withTimezone: true, precision: 3 });

export const tasks = pgTable(
  'tasks',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    type: text('type').notNull(),
    title: text('title').notNull(),
    description: text('description'),
    priority: taskPriority('priority').notNull().default('MEDIUM'),
    payload: jsonb('payload').notNull().default({}),
    status: taskStatus('status').notNull().default('NEW'),
    result: jsonb('result'),
    error: text('error'),
    attempts: integer('attempts').notNull().default(0),
    max_attempts: integer('max_attempts').notNull().default(1),
    timeout_ms: integer('timeout_ms'),
    progress: smallint('progress'),
    idempotency_key: text('idempotency_key'),
    request_hash: text('request_hash'),
    /** The X-Request-Id of the request that created the task: the log lines of its runs carry it. */
    request_id: text('request_id'),
    created_at: ts('created_at').notNull().defaultNow(),
    updated_at: ts('updated_at').notNull().defaultNow(),
    started_at: ts('started_at'),
    finished_at: ts('finished_at'),
    /** The last sign of life of the run in progress: its lease counts from here (see lib/db/leases.ts). */
    heartbeat_at: ts('heartbeat_at'),
    /**
     * Set while a PENDING task waits because its type is paused or at its concurrency limit: its message was taken
     * and acknowledged, and a new one is written when the type has room again (see lib/db/task-types.ts).
     */
    held_at: ts('held_at'),
    /** The recurring schedule that created the task; set to NULL when the schedule is deleted. */
    schedule_id: uuid('schedule_id').references(() => schedules.id, { onDelete: 'set null' }),
    /** The schedule's due time this task runs for; NULL for a run started by hand (POST .../trigger). */
    schedule_due_at: ts('schedule_due_at'),
    /** When the task is to start (create's `run_at` or `delay_ms`); null for a task to run at once. */
    run_at: ts('run_at'),
    /** Where the service POSTs the task when it ends (see lib/tasks/callbacks.ts). */
    callback_url: text('callback_url'),
  },
  (t) => [
    index('tasks_created_at_idx').on(t.created_at.desc(), t.id.desc()),
    // A list filtered by status, newest first, straight from the index (the list orders by created_at, id).
    index('tasks_status_created_at_id_idx').on(t.status, t.created_at.desc(), t.id.desc()),
    // Search: a substring of the title or the description (ILIKE '%...%') through trigrams (pg_trgm).
    index('tasks_title_trgm_idx').using('gin', sql`${t.title} gin_trgm_ops`),
    index('tasks_description_trgm_idx').using('gin', sql`${t.description} gin_trgm_ops`),
    // Partial: most tasks have no key, and a NULL entry would cost every new row version an index insertion.
    uniqueIndex('tasks_idempotency_key_idx').on(t.idempotency_key).where(sql`idempotency_key IS NOT NULL`),
    check('tasks_progress_range', sql`${t.progress} between 0 and 100`),
    check('tasks_max_attempts_range', sql`${t.max_attempts} between 1 and 10`),
    // Finds runs whose lease lapsed without scanning the finished tasks.
    index('tasks_in_progress_heartbeat_idx').on(t.heartbeat_at).where(sql`status = 'IN_PROGRESS'`),
    // The tasks a type holds back, in the order they are let go; and a type's running count.
    index('tasks_held_idx').on(t.type, t.priority.desc(), t.created_at).where(sql`held_at IS NOT NULL`),
    index('tasks_in_progress_type_idx').on(t.type).where(sql`status = 'IN_PROGRESS'`),
    // Exactly one task per due time of a schedule, however many schedulers run at once; it also serves the
    // SET NULL of a deleted schedule.
    uniqueIndex('tasks_schedule_due_idx').on(t.schedule_id, t.schedule_due_at).where(sql`schedule_id IS NOT NULL`),
    // The releaser's every probe (releaseDueTasks, msUntilNextRelease): the due and the next SCHEDULED tasks, without a scan. Its
    // predicate holds for every SCHEDULED task (and for waiting tasks with a run_at, until they start), and names no
    // status: a migration that adds the enum value cannot use it in the same transaction, and drizzle's migrator runs
    // all pending migrations in one (`status::text` is not immutable, so not allowed in a predicate).
    index('tasks_scheduled_run_at_idx').on(t.run_at).where(sql`run_at IS NOT NULL AND started_at IS NULL AND finished_at IS NULL`),
    // Finds the finished tasks past retention (lib/db/retention.ts) without scanning the others.
    index('tasks_terminal_finished_at_idx').on(t.finished_at).where(IS_TERMINAL),
  ],
);

/** Recurring schedules: each due time of `cron` (in `timezone`) creates one task from `task`. */
export const schedules = pgTable(
  'schedules',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    name: text('name').notNull(),
    cron: text('cron').notNull(),
    timezone: text('timezone').notNull().default('UTC'),
    /** A task create body (validated when stored and again at each run). */
    task: jsonb('task').notNull(),
    enabled: boolean('enabled').notNull().default(true),
    /** The next due time; NULL while disabled. */
    next_run_at: ts('next_run_at'),
    last_run_at: ts('last_run_at'),
    created_at: ts('created_at').notNull().defaultNow(),
    updated_at: ts('updated_at').notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('schedules_name_idx').on(t.name),
    index('schedules_created_at_idx').on(t.created_at.desc(), t.id.desc()),
    // The scheduler's question, "which are due?", without scanning the disabled ones.
    index('schedules_next_run_at_idx').on(t.next_run_at).where(sql`enabled AND next_run_at IS NOT NULL`),
  ],
);

/** Run-time settings of a task type, set by PATCH /api/v1/task-types/{name}; a type without a row runs freely. */
export const taskTypeSettings = pgTable(
  'task_type_settings',
  {
    name: text('name').primaryKey(),
    paused: boolean('paused').notNull().default(false),
    /** Most runs of the type at once across all processes; null for no limit. */
    concurrency: integer('concurrency'),
    updated_at: ts('updated_at').notNull().defaultNow(),
  },
  (t) => [check('task_type_settings_concurrency_min', sql`${t.concurrency} >= 1`)],
);

export const taskEvents = pgTable(
  'task_events',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    task_id: uuid('task_id')
      .notNull()
      .references(() => tasks.id, { onDelete: 'cascade' }),
    from_status: taskStatus('from_status'),
    to_status: taskStatus('to_status').notNull(),
    at: ts('at').notNull().defaultNow(),
    reason: text('reason'),
    /** On the events of a failed attempt (back to PENDING, or FAILED): which attempt, and its error. */
    attempt: integer('attempt'),
    error: text('error'),
  },
  (t) => [
    index('task_events_task_id_idx').on(t.task_id, t.id),
    // Finished runs per minute (GET /api/v1/stats) without scanning the whole history.
    index('task_events_finished_at_idx').on(t.at).where(sql`to_status IN ('COMPLETED', 'FAILED')`),
  ],
);

/**
 * Dead letters of every queue driver: messages that will never be handled, recorded with the reason, for people to
 * look at, redrive or discard (lib/tasks/dead-letters.ts). A task's dead letters go with it (retention).
 */
export const deadLetters = pgTable(
  'dead_letters',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    /** The queue the message came from: `tasks` or `task_intake`. */
    queue: text('queue').notNull(),
    task_id: uuid('task_id').references(() => tasks.id, { onDelete: 'cascade' }),
    reason: text('reason').notNull(),
    /** The message as it was received. */
    body: text('body').notNull(),
    failed_at: ts('failed_at').notNull().defaultNow(),
    receive_count: integer('receive_count').notNull().default(1),
  },
  (t) => [
    check('dead_letters_queue', sql`${t.queue} IN ('tasks', 'task_intake')`),
    index('dead_letters_queue_failed_at_idx').on(t.queue, t.failed_at.desc(), t.id.desc()),
    // Deleting a task finds its dead letters (ON DELETE CASCADE) without a scan.
    index('dead_letters_task_id_idx').on(t.task_id),
    // Dead letters past retention, oldest first.
    index('dead_letters_failed_at_idx').on(t.failed_at),
  ],
);

/**
 * Changes to the number of tasks by status, type and priority, written by statement triggers on `tasks` (one row
 * per group a statement changed) and summed up by the maintenance: counts that every list and the stats read
 * without counting the table (see lib/db/counts.ts).
 */
export const taskCountDeltas = pgTable('task_count_deltas', {
  status: taskStatus('status').notNull(),
  type: text('type').notNull(),
  priority: taskPriority('priority').notNull(),
  n: bigint('n', { mode: 'number' }).notNull(),
});

/** Messages written in the same transaction as the change that needs them, published after commit. */
export const outbox = pgTable(
  'outbox',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    queue: text('queue').notNull(),
    body: jsonb('body').notNull(),
    priority: smallint('priority').notNull().default(0),
    created_at: ts('created_at').notNull().defaultNow(),
    /** When the dispatcher may publish the row: later for a row its writer is publishing itself, or for a delayed message. */
    available_at: ts('available_at').notNull().defaultNow(),
  },
  (t) => [index('outbox_available_at_idx').on(t.available_at, t.id)],
);

export const callbackState = pgEnum('callback_state', ['pending', 'delivered', 'failed']);

/**
 * One callback to send: written by a trigger (drizzle/*_callback_trigger.sql) in the statement that makes a task with
 * a `callback_url` terminal, with the task as it was then; a sender claims it when `next_attempt_at` is due.
 */
export const callbackDeliveries = pgTable(
  'callback_deliveries',
  {
    /** Sent as X-Delivery-Id: the same for every attempt of this delivery, so that a receiver can drop repeats. */
    id: uuid('id').primaryKey().defaultRandom(),
    task_id: uuid('task_id')
      .notNull()
      .references(() => tasks.id, { onDelete: 'cascade' }),
    event: text('event').notNull(),
    url: text('url').notNull(),
    /** The task row as it was when it ended (to_jsonb of the row). */
    task: jsonb('task').notNull(),
    state: callbackState('state').notNull().default('pending'),
    attempts: integer('attempts').notNull().default(0),
    /** When a sender may take it: the next attempt, or the end of the lease of the sender that took it. */
    next_attempt_at: ts('next_attempt_at').notNull().defaultNow(),
    created_at: ts('created_at').notNull().defaultNow(),
    updated_at: ts('updated_at').notNull().defaultNow(),
  },
  (t) => [
    index('callback_deliveries_task_id_idx').on(t.task_id),
    // The senders' claim reads the due pending deliveries only.
    index('callback_deliveries_due_idx').on(t.next_attempt_at).where(sql`state = 'pending'`),
  ],
);

/** One attempt to send a callback and its outcome (GET /api/v1/tasks/{id}/callbacks). */
export const callbackAttempts = pgTable(
  'callback_attempts',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    delivery_id: uuid('delivery_id')
      .notNull()
      .references(() => callbackDeliveries.id, { onDelete: 'cascade' }),
    task_id: uuid('task_id')
      .notNull()
      .references(() => tasks.id, { onDelete: 'cascade' }),
    attempt: integer('attempt').notNull(),
    at: ts('at').notNull().defaultNow(),
    status_code: integer('status_code'),
    error: text('error'),
    duration_ms: integer('duration_ms'),
  },
  (t) => [index('callback_attempts_task_id_idx').on(t.task_id, t.id)],
);

/** The embedded queue: one row per message, claimed with FOR UPDATE SKIP LOCKED. */
export const queueMessages = pgTable(
  'queue_messages',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    queue: text('queue').notNull(),
    body: text('body').notNull(),
    priority: smallint('priority').notNull().default(0),
    receiveCount: integer('receive_count').notNull().default(0),
    visibleAt: ts('visible_at').notNull().defaultNow(),
    createdAt: ts('created_at').notNull().defaultNow(),
  },
  (t) => [
    index('queue_messages_claim_idx').on(t.queue, t.priority.desc(), t.id),
    // Finds the next message to become visible (delays, retries, expired claims) without scanning the queue.
    index('queue_messages_visible_at_idx').on(t.queue, t.visibleAt),
  ],
);

export type TaskRow = typeof tasks.$inferSelect;
export type TaskEventRow = typeof taskEvents.$inferSelect;
export type ScheduleRow = typeof schedules.$inferSelect;
export type CallbackDeliveryRow = typeof callbackDeliveries.$inferSelect;
export type CallbackAttemptRow = typeof callbackAttempts.$inferSelect;
export type DeadLetterRow = typeof deadLetters.$inferSelect;
