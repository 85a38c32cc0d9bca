import { createHash, randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { batched } from '#lib/batch';
import { config, onLambda } from '#lib/config';
import { db } from '#lib/db/client';
import { deleteOutboxRows } from '#lib/db/outbox';
import type { TaskEventRow, TaskRow } from '#lib/db/schema';
import {
  findTask,
  findTaskByIdempotencyKey,
  findTaskStatus,
  insertQueuedTasks,
  listTaskEvents,
  listTasks,
  type NewTask,
  releaseExpiredIdempotencyKey,
  transition,
  updateWaitingTask,
} from '#lib/db/tasks';
import { ConflictError, NotFoundError, ValidationError } from '#lib/http/errors';
import { zodIssuesToFieldErrors } from '#lib/http/input';
import { logger } from '#lib/logger';
import { queue } from '#lib/queue/client';
import type { CreateTaskInput, ListTasksQuery, Task, UpdateTaskInput } from '#lib/tasks/schemas';
import { FROM, QUEUE_PRIORITY, type TaskStatus } from '#lib/tasks/status';
import { findTaskType, TASK_TYPE_NAMES, type TaskType } from '#lib/tasks/types/index';

/** How long an idempotency key is honoured. */
export const IDEMPOTENCY_HOURS = 24;

const iso = (d: Date | string | null): string | null => (d === null ? null : new Date(d).toISOString());

/** The API shape of a stored task. */
export function toTask(row: TaskRow): Task {
  return {
    id: row.id,
    type: row.type,
    title: row.title,
    description: row.description,
    priority: row.priority,
    payload: row.payload as Record<string, unknown>,
    status: row.status,
    result: row.result ?? null,
    error: row.error,
    attempts: row.attempts,
    max_attempts: row.max_attempts,
    timeout_ms: row.timeout_ms,
    progress: row.progress,
    created_at: iso(row.created_at) as string,
    updated_at: iso(row.updated_at) as string,
    started_at: iso(row.started_at),
    finished_at: iso(row.finished_at),
  };
}

function taskTypeOrThrow(typeName: string): TaskType {
  const type = findTaskType(typeName);
  if (!type) {
    throw new ValidationError(
      [{ path: 'type', message: `unknown task type '${typeName.slice(0, 100)}'; known types: ${TASK_TYPE_NAMES.join(', ')}` }],
      'Unknown task type',
    );
  }
  return type;
}

/** Validates a payload against its task type's schema; failures name `payload.<field>`. */
export function validatePayload(typeName: string, payload: unknown): Record<string, unknown> {
  const type = taskTypeOrThrow(typeName);
  const parsed = type.payload.safeParse(payload);
  if (!parsed.success) {
    const errors = zodIssuesToFieldErrors(parsed.error.issues).map((e) => ({
      ...e,
      path: e.path === '(root)' ? 'payload' : `payload.${e.path}`,
    }));
    throw new ValidationError(errors, `Invalid payload for task type '${typeName}'`);
  }
  return parsed.data as Record<string, unknown>;
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined);
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

const taskMessage = (row: Pick<TaskRow, 'id' | 'priority'>) => ({
  body: JSON.stringify({ task_id: row.id }),
  priority: QUEUE_PRIORITY[row.priority],
});

type Queued = TaskRow & { outbox_id: number | null };

/**
 * Deletes the outbox rows of published messages, many in one statement; never rejects. If a delete is lost, the
 * dispatcher publishes the message again, and a duplicate is harmless (claims are conditional).
 */
const deletePublished = batched(
  async (ids: number[]): Promise<undefined[]> => {
    try {
      await deleteOutboxRows(db(), ids);
    } catch (err) {
      logger.warn('could not delete published outbox rows', { error: err as Error });
    }
    return ids.map(() => undefined);
  },
  { maxBatch: 1_000 },
);

/**
 * Publishes the messages of tasks just written with outbox rows, concurrent calls together (see `batched`). On
 * success their outbox rows are deleted (`deletePublished`), after the answer where that is safe; when the queue
 * is unreachable the tasks go back to NEW and the dispatcher publishes them later. Either way the tasks are
 * stored: if even the move back to NEW fails (the database went away too), they are answered as stored, PENDING
 * with their outbox rows, rather than with an error that would make a client send them again.
 */
const publishQueued = batched(
  async (items: { row: Queued; delayMs?: number }[]): Promise<TaskRow[]> => {
    try {
      await queue().publish(
        'tasks',
        items.map(({ row, delayMs }) => ({ ...taskMessage(row), delayMs })),
      );
    } catch (err) {
      logger.warn('queue unreachable; the dispatcher will publish the tasks later', {
        task_ids: items.map(({ row }) => row.id),
        error: err as Error,
      });
      return Promise.all(
        items.map(async ({ row }) => {
          try {
            return (await transition(db(), { id: row.id, from: ['PENDING'], to: 'NEW', reason: 'queue unreachable' })) ?? row;
          } catch (error) {
            logger.warn('could not mark an unqueued task NEW; its outbox row has it published later', {
              task_id: row.id,
              error: error as Error,
            });
            return row;
          }
        }),
      );
    }
    const deleted = Promise.all(items.map(({ row }) => deletePublished(row.outbox_id as number)));
    // A long-lived process answers first. A Lambda container may be frozen once it has answered, and the outbox
    // keeps no delay: a row left behind would have a delayed retry published again at once. So those wait.
    if (onLambda() || items.some(({ delayMs }) => delayMs)) await deleted;
    return items.map(({ row }) => row);
  },
  { inFlight: 2 },
);

/** Publishes the message of a task that was just written with an outbox row (no-op without one). */
export async function publishAfterCommit(row: Queued, delayMs?: number): Promise<TaskRow> {
  if (row.outbox_id === null) return row;
  return publishQueued({ row, delayMs });
}

/** Inserts queued tasks, concurrent creates in one statement (see `batched`); undefined when the key is taken. */
const insertQueued = batched(
  async (list: (NewTask & { id: string })[]) => {
    const inserted = await insertQueuedTasks(db(), list);
    return list.map((task) => inserted.get(task.id));
  },
  { inFlight: 2 },
);

/** Creates a task and queues it; with an idempotency key, a repeat returns the first task (`created: false`). */
export async function createTask(input: CreateTaskInput, idempotencyKey?: string): Promise<{ task: Task; created: boolean }> {
  const payload = validatePayload(input.type, input.payload);
  const typeTimeout = taskTypeOrThrow(input.type).timeoutMs;
  if (input.timeout_ms !== undefined && input.timeout_ms > typeTimeout) {
    throw new ValidationError([{ path: 'timeout_ms', message: `must be at most ${typeTimeout} (the default timeout of '${input.type}')` }]);
  }
  const key = idempotencyKey ?? null;
  const stored = {
    type: input.type,
    title: input.title,
    description: input.description ?? null,
    priority: input.priority,
    payload,
    max_attempts: input.max_attempts ?? config().DEFAULT_MAX_ATTEMPTS,
    timeout_ms: input.timeout_ms ?? null,
  };
  // Over what is stored, defaults resolved: a repeat that spells out a default (`"priority": "MEDIUM"`) is the same request.
  const requestHash = key ? createHash('sha256').update(canonicalJson(stored)).digest('hex') : null;
  const values = { ...stored, idempotency_key: key, request_hash: requestHash };
  for (let attempt = 0; attempt < 3; attempt++) {
    const row = await insertQueued({ ...values, id: randomUUID() });
    if (row) return { task: toTask(await publishAfterCommit(row)), created: true };
    const existing = key ? await findTaskByIdempotencyKey(db(), key) : undefined;
    if (!existing) continue;
    if (await releaseExpiredIdempotencyKey(db(), existing.idempotency_key as string, IDEMPOTENCY_HOURS)) continue;
    if (existing.request_hash !== requestHash) {
      throw new ValidationError(
        [{ path: 'Idempotency-Key', message: 'this key was already used with a different request body' }],
        'Idempotency key reused with a different body',
      );
    }
    return { task: toTask(existing), created: false };
  }
  throw new ConflictError('The idempotency key is being used by a concurrent request; try again');
}

/** The task with this id; NotFoundError when there is none. */
export async function getTask(id: string): Promise<Task> {
  const row = await findTask(db(), id);
  if (!row) throw new NotFoundError();
  return toTask(row);
}

/** The status of a task; NotFoundError when there is none. */
export async function getTaskStatus(id: string): Promise<{ task_id: string; status: TaskStatus }> {
  const status = await findTaskStatus(db(), id);
  if (!status) throw new NotFoundError();
  return { task_id: id, status };
}

/** A page of tasks matching the query, newest first. */
export async function searchTasks(q: ListTasksQuery) {
  const { items, total } = await listTasks(db(), q);
  return { items: items.map(toTask), total, limit: q.limit, offset: q.offset };
}

/** The status history of a task, oldest first. */
export async function getTaskEvents(id: string) {
  const [exists, events] = await Promise.all([findTaskStatus(db(), id), listTaskEvents(db(), id)]);
  if (!exists) throw new NotFoundError();
  return {
    items: events.map((e: TaskEventRow) => ({
      from_status: e.from_status,
      to_status: e.to_status,
      at: iso(e.at) as string,
      reason: e.reason,
    })),
  };
}

async function conflictOrMissing(id: string, action: string, allowed: readonly TaskStatus[]): Promise<never> {
  const status = await findTaskStatus(db(), id);
  if (!status) throw new NotFoundError();
  throw new ConflictError(`Cannot ${action} a task that is ${status}; only ${allowed.join(', ')} tasks can be`);
}

/** Cancels a task that has not finished; a running one is told to stop. */
export async function cancelTask(id: string): Promise<Task> {
  const row = await transition(db(), {
    id,
    from: FROM.cancel,
    to: 'CANCELLED',
    reason: 'cancelled by request',
    set: sql`finished_at = now()`,
  });
  if (!row) return conflictOrMissing(id, 'cancel', FROM.cancel);
  return toTask(row);
}

/** Puts a FAILED or CANCELLED task back in the queue with a fresh attempt budget. */
export async function retryTask(id: string): Promise<Task> {
  const row = await transition(db(), {
    id,
    from: FROM.retry,
    to: 'PENDING',
    reason: 'retry requested',
    set: sql`error = NULL, result = NULL, progress = NULL, attempts = 0, started_at = NULL, finished_at = NULL`,
    enqueue: true,
  });
  if (!row) return conflictOrMissing(id, 'retry', FROM.retry);
  return toTask(await publishAfterCommit(row));
}

/** Edits a task that is still waiting; a new priority is published again so that it takes effect in the queue. */
export async function updateTask(id: string, input: UpdateTaskInput): Promise<Task> {
  const current = await findTask(db(), id);
  if (!current) throw new NotFoundError();
  const fields = { ...input };
  if (input.payload !== undefined) fields.payload = validatePayload(current.type, input.payload);
  const requeue = input.priority !== undefined && input.priority !== current.priority && current.status === 'PENDING';
  const row = await updateWaitingTask(db(), id, fields, requeue);
  if (!row) return conflictOrMissing(id, 'update', FROM.update);
  return toTask(await publishAfterCommit(row));
}
