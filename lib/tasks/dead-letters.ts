import { mapConcurrently } from '#lib/concurrency';
import { db, type Executor } from '#lib/db/client';
import {
  countDeadLetters as countRows,
  type DeadLetterQueue,
  insertDeadLetter,
  listDeadLetters,
  lockTaskOfDeadLetter,
  oldestDeadLetterIds,
  takeDeadLetter,
} from '#lib/db/dead-letters';
import type { DeadLetterRow } from '#lib/db/schema';
import { findTask, findTaskStatus, queueMessageAgain, transition } from '#lib/db/tasks';
import { logger } from '#lib/logger';
import { isTerminal } from '#lib/model';
import { queue } from '#lib/queue/client';
import type { QueueName } from '#lib/queue/types';
import { retryTransition } from '#lib/tasks/commands';
import { ConflictError, type FieldError, NotFoundError, UnavailableError } from '#lib/tasks/errors';
import { iso, toTask } from '#lib/tasks/mapping';
import { publishAfterCommit, type Queued, selfPublishMs } from '#lib/tasks/outbox';
import {
  type DeadLetter,
  type ListDeadLettersQuery,
  REDRIVE_MAX,
  type RedriveDeadLettersInput,
  type RedriveResult,
  type Task,
  TaskMessageSchema,
} from '#lib/tasks/schemas';

// Dead letters: messages that will never be handled as they are. Every driver records them in one table: the
// service's own (an invalid message, a task's final failure) directly, and those a broker moved to a `<queue>.dlq`
// queue itself (SQS after maxReceiveCount) through the dead-letter consumer (functions/dead-letters.ts). People list,
// redrive and discard them through the API.

const MAX_REASON_LENGTH = 2_000;

/** A task id named by a `tasks` message, if it is one. */
function taskIdOf(body: string): string | null {
  try {
    return TaskMessageSchema.parse(JSON.parse(body)).task_id;
  } catch {
    return null;
  }
}

/** PostgreSQL text cannot hold NUL characters, which an invalid message may carry: they are stored as U+FFFD. */
const storable = (s: string) => s.replaceAll('\u0000', '\uFFFD');

function withFieldErrors(reason: string, errors?: FieldError[]): string {
  const text = errors?.length ? `${reason}: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}` : reason;
  return storable(text.slice(0, MAX_REASON_LENGTH));
}

/** The API shape of a dead letter. */
const toDeadLetter = (row: DeadLetterRow): DeadLetter => ({
  id: row.id,
  queue: row.queue as DeadLetterQueue,
  task_id: row.task_id,
  reason: row.reason,
  body: row.body,
  failed_at: iso(row.failed_at) as string,
  receive_count: row.receive_count,
});

/**
 * Records a message of `from` that will never be handled, with the reason (and the failing fields, if any), and logs
 * it: the one path by which the service dead-letters anything.
 */
export async function deadLetter(from: QueueName, message: string, reason: string, errors?: FieldError[], receiveCount = 1): Promise<void> {
  const row = await insertDeadLetter(db(), {
    queue: from,
    taskId: from === 'tasks' ? taskIdOf(message) : null,
    reason: withFieldErrors(reason, errors),
    body: storable(message),
    receiveCount,
  });
  logger.warn('dead letter recorded', { queue: from, dead_letter_id: row.id, task_id: row.task_id ?? undefined, reason: row.reason });
}

/**
 * Records the final failure of a task, by its run or by the maintenance (a run lost too often), as a dead letter for
 * people to look at and redrive; the task itself already says FAILED. Never rejects: a write that fails is logged.
 */
export async function deadLetterFailedTask(taskId: string, attempts: number, error: string, message = JSON.stringify({ task_id: taskId })) {
  await deadLetter('tasks', message, `task ${taskId} failed after ${attempts} attempt(s): ${error}`).catch((err) =>
    logger.error('dead letter not written', { task_id: taskId, error: err as Error }),
  );
}

/** The envelope that earlier versions published to the `.dlq` queues: the reason, the failing fields, the message. */
function envelopeOf(body: string): { reason: string; message: string; errors?: FieldError[] } | undefined {
  try {
    const v = JSON.parse(body) as { reason?: unknown; message?: unknown; errors?: unknown };
    if (typeof v.reason === 'string' && typeof v.message === 'string') {
      return { reason: v.reason, message: v.message, errors: Array.isArray(v.errors) ? (v.errors as FieldError[]) : undefined };
    }
  } catch {}
  return undefined;
}

/**
 * Records a message taken off a dead-letter queue (`from` is the queue it was dead-lettered from): a broker moved it
 * there after too many failed deliveries (the reason, when the broker gave one, is `brokerReason`). Messages in the
 * envelope of earlier versions keep their own reason.
 */
export async function recordDeadLetterMessage(
  from: QueueName,
  m: { body: string; receiveCount: number; brokerReason?: string },
): Promise<'done'> {
  const envelope = envelopeOf(m.body);
  if (envelope) await deadLetter(from, envelope.message, envelope.reason, envelope.errors, m.receiveCount);
  else {
    const why = m.brokerReason ? ` (${m.brokerReason})` : '';
    await deadLetter(
      from,
      m.body,
      `moved to ${from}.dlq by the queue after ${m.receiveCount} deliveries without success${why}`,
      undefined,
      m.receiveCount,
    );
  }
  return 'done';
}

/** A page of dead letters, newest first. */
export async function searchDeadLetters(q: ListDeadLettersQuery) {
  const { items, total } = await listDeadLetters(db(), q);
  return { items: items.map(toDeadLetter), total, limit: q.limit, offset: q.offset };
}

/** Dead letters recorded, by queue. */
export const countDeadLetters = () => countRows(db());

/** Removes a dead letter for good, answering it; NotFoundError when there is none. */
export async function discardDeadLetter(id: string): Promise<DeadLetter> {
  const row = await takeDeadLetter(db(), id);
  if (!row) throw new NotFoundError('Dead letter not found');
  logger.info('dead letter discarded', { dead_letter_id: id, queue: row.queue });
  return toDeadLetter(row);
}

/**
 * Puts a task's run back on the queue for its dead letter, in the caller's transaction: a FAILED or CANCELLED task
 * moves back to PENDING with a fresh attempt budget (the retry move), a PENDING task whose message was lost gets a
 * new one, a task still on its way (NEW, running) is left alone. ConflictError when the message names no task, the
 * task is gone, or it has COMPLETED.
 */
async function redriveTask(tx: Executor, dead: DeadLetterRow): Promise<Queued> {
  const taskId = dead.task_id ?? taskIdOf(dead.body);
  if (!taskId) throw new ConflictError('The dead letter is not a valid tasks message; it can only be discarded');
  const retried = await transition(tx, retryTransition(taskId, `redriven from dead letter ${dead.id}`));
  if (retried) return retried;
  const status = await findTaskStatus(tx, taskId);
  if (!status) throw new ConflictError('The task of this dead letter no longer exists; it can only be discarded');
  if (status === 'PENDING') {
    const again = await queueMessageAgain(tx, taskId, selfPublishMs());
    if (again) return again;
  }
  if (isTerminal(status)) throw new ConflictError(`The task of this dead letter is ${status}; it can only be discarded`);
  // NEW (its outbox row publishes it), running, or waiting to start: it is on its way already.
  const task = await findTask(tx, taskId);
  if (!task) throw new ConflictError('The task of this dead letter no longer exists; it can only be discarded');
  return { ...task, outbox_id: null };
}

/**
 * Redrives a dead letter and removes it: a `tasks` one puts its task back in the queue (see redriveTask), a
 * `task_intake` one is published to `task_intake` again (a still invalid message comes back as a new dead letter).
 * NotFoundError when there is no such dead letter (or it was redriven meanwhile); the dead letter stays on a refusal.
 */
export async function redriveDeadLetter(id: string, onlyQueue?: DeadLetterQueue): Promise<RedriveResult> {
  const { dead, queued } = await db().transaction(async (tx) => {
    await lockTaskOfDeadLetter(tx, id);
    const row = await takeDeadLetter(tx, id, onlyQueue);
    if (!row) throw new NotFoundError('Dead letter not found');
    if (row.queue === 'tasks') return { dead: row, queued: await redriveTask(tx, row) };
    try {
      // Before the commit: a failed publish keeps the dead letter. A commit lost after it publishes a duplicate,
      // which an idempotency key makes harmless.
      await queue().publish('task_intake', [{ body: row.body }]);
    } catch (err) {
      throw new UnavailableError('The queue is unreachable; try again shortly', { cause: err });
    }
    return { dead: row, queued: undefined };
  });
  const task: Task | null = queued ? toTask(await publishAfterCommit(queued)) : null;
  logger.info('dead letter redriven', { dead_letter_id: id, queue: dead.queue, task_id: task?.id });
  return { dead_letter: toDeadLetter(dead), task };
}

/** What became of one dead letter of a bulk redrive. */
export type RedriveOutcome = { id: string; task: Task | null; error?: undefined } | { id: string; task?: undefined; error: unknown };

/** Dead letters redriven at once: a few, leaving the pool's other connections free. */
const CONCURRENCY = 4;

/** Redrives dead letters of one queue (the given ones, or its oldest REDRIVE_MAX), one outcome each, in order. */
export async function redriveDeadLetters(input: RedriveDeadLettersInput): Promise<{ outcomes: RedriveOutcome[]; remaining: number }> {
  const ids = input.ids ? [...new Set(input.ids)] : await oldestDeadLetterIds(db(), input.queue, REDRIVE_MAX);
  const outcomes = await mapConcurrently(ids, CONCURRENCY, async (id): Promise<RedriveOutcome> => {
    try {
      return { id, task: (await redriveDeadLetter(id, input.queue)).task };
    } catch (error) {
      return { id, error };
    }
  });
  const remaining = (await countRows(db()))[input.queue];
  return { outcomes, remaining };
}
