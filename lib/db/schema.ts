import { sql } from 'drizzle-orm';
import {
  bigint,
  bigserial,
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
import { TASK_PRIORITIES, TASK_STATUSES } from '../model';

export const taskStatus = pgEnum('task_status', TASK_STATUSES);
export const taskPriority = pgEnum('task_priority', TASK_PRIORITIES);

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
    created_at: ts('created_at').notNull().defaultNow(),
    updated_at: ts('updated_at').notNull().defaultNow(),
    started_at: ts('started_at'),
    finished_at: ts('finished_at'),
    /** The last sign of life of the run in progress: its lease counts from here (see lib/db/leases.ts). */
    heartbeat_at: ts('heartbeat_at'),
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
  ],
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
  },
  (t) => [
    index('task_events_task_id_idx').on(t.task_id, t.id),
    // Finished runs per minute (GET /api/v1/stats) without scanning the whole history.
    index('task_events_finished_at_idx').on(t.at).where(sql`to_status IN ('COMPLETED', 'FAILED')`),
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
