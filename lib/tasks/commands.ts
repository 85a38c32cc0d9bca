import { createHash, randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { config } from '#lib/config';
import { db } from '#lib/db/client';
import {
  findTask,
  findTaskByIdempotencyKey,
  findTaskStatus,
  insertQueuedTasks,
  type NewTask,
  releaseExpiredIdempotencyKey,
  transition,
  updateWaitingTask,
} from '#lib/db/tasks';
import { batched } from '#lib/group-commit';
import { EDITABLE, MOVES, type TaskStatus } from '#lib/model';
import { requestContext } from '#lib/request-context';
import { ConflictError, InvalidInputError, NotFoundError, zodIssuesToFieldErrors } from '#lib/tasks/errors';
import { toTask } from '#lib/tasks/mapping';
import { publishAfterCommit, selfPublishMs } from '#lib/tasks/outbox';
import type { CreateTaskInput, Task, UpdateTaskInput } from '#lib/tasks/schemas';
import { logStatusChange } from '#lib/tasks/status-log';
import { findTaskType, TASK_TYPE_NAMES, type TaskType } from '#lib/tasks/types/index';

// Changing tasks: create, edit, cancel, retry. Every status change is a move of the state machine (lib/model.ts).

/** How long an idempotency key is honoured. */
export const IDEMPOTENCY_HOURS = 24;

function taskTypeOrThrow(typeName: string): TaskType {
  const type = findTaskType(typeName);
  if (!type) {
    throw new InvalidInputError(
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
    throw new InvalidInputError(errors, `Invalid payload for task type '${typeName}'`);
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

/** Inserts queued tasks, concurrent creates in one statement (see `batched`); undefined when the key is taken. */
const insertQueued = batched(
  async (list: (NewTask & { id: string })[]) => {
    const inserted = await insertQueuedTasks(db(), list, selfPublishMs());
    return list.map((task) => inserted.get(task.id));
  },
  { inFlight: 2 },
);

/** Creates a task and queues it; with an idempotency key, a repeat returns the first task (`created: false`). */
export async function createTask(input: CreateTaskInput, idempotencyKey?: string): Promise<{ task: Task; created: boolean }> {
  const payload = validatePayload(input.type, input.payload);
  const typeTimeout = taskTypeOrThrow(input.type).timeoutMs;
  if (input.timeout_ms !== undefined && input.timeout_ms > typeTimeout) {
    throw new InvalidInputError([
      { path: 'timeout_ms', message: `must be at most ${typeTimeout} (the default timeout of '${input.type}')` },
    ]);
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
  // The log lines of the task's runs carry the id of the request that created it.
  const values = { ...stored, idempotency_key: key, request_hash: requestHash, request_id: requestContext()?.request_id ?? null };
  for (let attempt = 0; attempt < 3; attempt++) {
    const row = await insertQueued({ ...values, id: randomUUID() });
    if (row) {
      logStatusChange({ task_id: row.id, type: row.type, from: null, to: row.status, reason: 'created' });
      return { task: toTask(await publishAfterCommit(row)), created: true };
    }
    const existing = key ? await findTaskByIdempotencyKey(db(), key) : undefined;
    if (!existing) continue;
    if (await releaseExpiredIdempotencyKey(db(), existing.idempotency_key as string, IDEMPOTENCY_HOURS)) continue;
    if (existing.request_hash !== requestHash) {
      throw new InvalidInputError(
        [{ path: 'Idempotency-Key', message: 'this key was already used with a different request body' }],
        'Idempotency key reused with a different body',
      );
    }
    return { task: toTask(existing), created: false };
  }
  throw new ConflictError('The idempotency key is being used by a concurrent request; try again');
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
    move: MOVES.cancel,
    reason: 'cancelled by request',
    set: sql`finished_at = now()`,
  });
  if (!row) return conflictOrMissing(id, 'cancel', MOVES.cancel.from);
  logStatusChange({ task_id: id, from: row.prev_status, to: row.status, reason: 'cancelled by request', type: row.type });
  return toTask(row);
}

/** Puts a FAILED or CANCELLED task back in the queue with a fresh attempt budget. */
export async function retryTask(id: string): Promise<Task> {
  const row = await transition(db(), {
    id,
    move: MOVES.retry,
    reason: 'retry requested',
    set: sql`error = NULL, result = NULL, progress = NULL, attempts = 0, started_at = NULL, finished_at = NULL, heartbeat_at = NULL`,
    enqueue: { availableInMs: selfPublishMs() },
  });
  if (!row) return conflictOrMissing(id, 'retry', MOVES.retry.from);
  logStatusChange({ task_id: id, from: row.prev_status, to: row.status, reason: 'retry requested', type: row.type });
  return toTask(await publishAfterCommit(row));
}

/** Edits a task that is still waiting; a new priority is published again so that it takes effect in the queue. */
export async function updateTask(id: string, input: UpdateTaskInput): Promise<Task> {
  const current = await findTask(db(), id);
  if (!current) throw new NotFoundError();
  const fields = { ...input };
  if (input.payload !== undefined) fields.payload = validatePayload(current.type, input.payload);
  const requeue = input.priority !== undefined && input.priority !== current.priority && current.status === 'PENDING';
  const row = await updateWaitingTask(db(), id, fields, requeue ? { availableInMs: selfPublishMs() } : undefined);
  if (!row) return conflictOrMissing(id, 'update', EDITABLE);
  return toTask(await publishAfterCommit(row));
}
