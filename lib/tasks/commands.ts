import { createHash } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { config } from '#lib/config';
import { db } from '#lib/db/client';
import {
  findTask,
  findTaskByIdempotencyKey,
  findTaskStatus,
  findTasksByIdempotencyKeys,
  insertQueuedTasks,
  type NewTask,
  newTaskId,
  type Reschedule,
  releaseExpiredIdempotencyKey,
  type Transition,
  transition,
  updateWaitingTask,
} from '#lib/db/tasks';
import { batched } from '#lib/group-commit';
import { EDITABLE, MOVES, RESCHEDULABLE, type TaskStatus } from '#lib/model';
import { requestContext } from '#lib/request-context';
import { checkCallbackUrl } from '#lib/tasks/callbacks';
import { ConflictError, InvalidInputError, NotFoundError, zodIssuesToFieldErrors } from '#lib/tasks/errors';
import { toTask } from '#lib/tasks/mapping';
import { publishAfterCommit, selfPublishMs } from '#lib/tasks/outbox';
import type { CreateTaskInput, KeyedCreateInput, Task, UpdateTaskInput } from '#lib/tasks/schemas';
import { logStatusChange } from '#lib/tasks/status-log';
import { findTaskType, TASK_TYPE_NAMES, type TaskType } from '#lib/tasks/types/index';

// Changing tasks: create (one or a batch), edit, cancel, retry. Every status change is a move of the state machine (lib/model.ts).

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

/** The columns of a new task as a create body gives them: checked against its type, defaults resolved. */
export type TaskValues = Omit<NewTask, 'idempotency_key' | 'request_hash' | 'schedule_id' | 'schedule_due_at' | 'run_at' | 'delay_ms'>;

/** Checks a create body against its task type (payload, timeout) and resolves its defaults; InvalidInputError if not valid. */
export function taskValues(input: Omit<CreateTaskInput, 'run_at' | 'delay_ms'>): TaskValues {
  const payload = validatePayload(input.type, input.payload);
  const typeTimeout = taskTypeOrThrow(input.type).timeoutMs;
  if (input.timeout_ms !== undefined && input.timeout_ms > typeTimeout) {
    throw new InvalidInputError([
      { path: 'timeout_ms', message: `must be at most ${typeTimeout} (the default timeout of '${input.type}')` },
    ]);
  }
  checkCallbackUrl(input.callback_url);
  return {
    type: input.type,
    title: input.title,
    description: input.description ?? null,
    priority: input.priority,
    payload,
    max_attempts: input.max_attempts ?? config().DEFAULT_MAX_ATTEMPTS,
    timeout_ms: input.timeout_ms ?? null,
    callback_url: input.callback_url ?? null,
  };
}

/** Checks a create (payload, type, timeout) and resolves what is stored; errors name their fields under `prefix`. */
function prepareCreate(input: CreateTaskInput, idempotencyKey: string | undefined, prefix = ''): NewTask {
  let stored: TaskValues;
  try {
    stored = taskValues(input);
  } catch (err) {
    if (err instanceof InvalidInputError && prefix) {
      throw new InvalidInputError(
        err.errors.map((e) => ({ ...e, path: `${prefix}${e.path}` })),
        err.message,
      );
    }
    throw err;
  }
  const key = idempotencyKey ?? null;
  const run_at = input.run_at === undefined ? null : new Date(input.run_at).toISOString();
  const delay_ms = input.delay_ms ?? null;
  // Over what is stored, defaults resolved: a repeat that spells out a default (`"priority": "MEDIUM"`) is the same
  // request. The start as asked (a delay, not the time it gave), so that a repeat of a delayed create is the same too;
  // the start and the callback absent when not asked, so that the hashes of earlier requests still match.
  const hashed = {
    ...stored,
    callback_url: stored.callback_url ?? undefined,
    run_at: run_at ?? undefined,
    delay_ms: delay_ms ?? undefined,
  };
  const requestHash = key ? createHash('sha256').update(canonicalJson(hashed)).digest('hex') : null;
  // The log lines of the task's runs carry the id of the request that created it.
  const request_id = requestContext()?.request_id ?? null;
  return { ...stored, idempotency_key: key, request_hash: requestHash, run_at, delay_ms, request_id };
}

const keyReused = (path: string) =>
  new InvalidInputError(
    [{ path, message: 'this key was already used with a different request body' }],
    'Idempotency key reused with a different body',
  );

/**
 * Creates a task and queues it, or stores it SCHEDULED when it is to start later; with an idempotency key, a
 * repeat returns the first task (`created: false`).
 */
export async function createTask(input: CreateTaskInput, idempotencyKey?: string): Promise<{ task: Task; created: boolean }> {
  const values = prepareCreate(input, idempotencyKey);
  const key = values.idempotency_key;
  for (let attempt = 0; attempt < 3; attempt++) {
    const row = await insertQueued({ ...values, id: newTaskId() });
    if (row) {
      logStatusChange({ task_id: row.id, type: row.type, from: null, to: row.status, reason: 'created' });
      return { task: toTask(await publishAfterCommit(row)), created: true };
    }
    const existing = key ? await findTaskByIdempotencyKey(db(), key) : undefined;
    if (!existing) continue;
    if (await releaseExpiredIdempotencyKey(db(), existing.idempotency_key as string, IDEMPOTENCY_HOURS)) continue;
    if (existing.request_hash !== values.request_hash) throw keyReused('Idempotency-Key');
    return { task: toTask(existing), created: false };
  }
  throw new ConflictError('The idempotency key is being used by a concurrent request; try again');
}

/** A task of a batch was left out by the insert (its key taken) and its holder not seen: the batch is tried again. */
class KeyRaceError extends Error {}

/**
 * Creates many tasks, all or nothing: one transaction, then one publish of their messages. An item with an
 * idempotency key that an earlier task holds (with the same body) gives that task and creates nothing; the same key
 * with a different body fails the whole batch (422 on `tasks.<i>.idempotency_key`). Errors name their item
 * (`tasks.<i>.<field>`). The tasks come back in the order given.
 */
export async function createTasks(inputs: readonly KeyedCreateInput[]): Promise<Task[]> {
  // Every invalid item is named at once, not only the first.
  const invalid: InvalidInputError[] = [];
  const prepared = inputs.flatMap(({ idempotency_key, ...input }, i) => {
    try {
      return [prepareCreate(input, idempotency_key, `tasks.${i}.`)];
    } catch (err) {
      if (!(err instanceof InvalidInputError)) throw err;
      invalid.push(err);
      return [];
    }
  });
  if (invalid.length === 1) throw invalid[0];
  if (invalid.length > 1) throw new InvalidInputError(invalid.flatMap((e) => e.errors));
  const keys = [...new Set(prepared.flatMap((p) => (p.idempotency_key ? [p.idempotency_key] : [])))];
  let created = new Set<string>();
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const rows = await db().transaction(async (tx) => {
        await releaseExpiredIdempotencyKey(tx, keys, IDEMPOTENCY_HOURS);
        const list = prepared.map((p) => ({ ...p, id: newTaskId() }));
        // A key given twice in one batch is inserted once: the first item's row stands for both.
        const inserted = await insertQueuedTasks(tx, list, selfPublishMs());
        created = new Set(inserted.keys());
        const holders = await findTasksByIdempotencyKeys(
          tx,
          list.filter((t) => !inserted.has(t.id) && t.idempotency_key).map((t) => t.idempotency_key as string),
        );
        return list.map((t, i) => {
          const row = inserted.get(t.id);
          if (row) return row;
          const holder = t.idempotency_key ? holders.get(t.idempotency_key) : undefined;
          if (!holder) throw new KeyRaceError();
          if (holder.request_hash !== t.request_hash) throw keyReused(`tasks.${i}.idempotency_key`);
          return { ...holder, outbox_id: null };
        });
      });
      for (const row of rows) {
        if (created.has(row.id)) logStatusChange({ task_id: row.id, type: row.type, from: null, to: row.status, reason: 'created' });
      }
      // Concurrent calls of publishAfterCommit go out in one publish (see `batched`).
      const published = await Promise.all(rows.map((row) => publishAfterCommit(row)));
      return published.map(toTask);
    } catch (err) {
      if (!(err instanceof KeyRaceError)) throw err;
    }
  }
  throw new ConflictError('An idempotency key of the batch is being used by a concurrent request; try again');
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

/** The retry move: a FAILED or CANCELLED task back to PENDING with a fresh attempt budget, its message in the outbox. */
export const retryTransition = (id: string, reason: string): Transition => ({
  id,
  move: MOVES.retry,
  reason,
  set: sql`error = NULL, result = NULL, progress = NULL, attempts = 0, started_at = NULL, finished_at = NULL, heartbeat_at = NULL`,
  enqueue: { availableInMs: selfPublishMs() },
});

/** Puts a FAILED or CANCELLED task back in the queue with a fresh attempt budget. */
export async function retryTask(id: string): Promise<Task> {
  const row = await transition(db(), retryTransition(id, 'retry requested'));
  if (!row) return conflictOrMissing(id, 'retry', MOVES.retry.from);
  logStatusChange({ task_id: id, from: row.prev_status, to: row.status, reason: 'retry requested', type: row.type });
  return toTask(await publishAfterCommit(row));
}

/**
 * Edits a task that is still waiting; a new priority is published again so that it takes effect in the queue. A new
 * start time (`run_at` or `delay_ms`) is for a SCHEDULED task only.
 */
export async function updateTask(id: string, input: UpdateTaskInput): Promise<Task> {
  const current = await findTask(db(), id);
  if (!current) throw new NotFoundError();
  const { run_at, delay_ms, ...fields } = input;
  if (input.payload !== undefined) fields.payload = validatePayload(current.type, input.payload);
  const reschedule: Reschedule | undefined = run_at !== undefined ? { run_at } : delay_ms !== undefined ? { delay_ms } : undefined;
  const requeue = input.priority !== undefined && input.priority !== current.priority;
  const row = await updateWaitingTask(db(), id, fields, requeue ? { availableInMs: selfPublishMs() } : undefined, reschedule);
  if (!row) return reschedule ? conflictOrMissing(id, 'reschedule', RESCHEDULABLE) : conflictOrMissing(id, 'update', EDITABLE);
  return toTask(await publishAfterCommit(row));
}
