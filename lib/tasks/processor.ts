import { sql } from 'drizzle-orm';
import { config } from '#lib/config';
import { db } from '#lib/db/client';
import { whileDatabaseIsAway } from '#lib/db/retry';
import { findTaskStatus, setProgress, transition } from '#lib/db/tasks';
import { logger } from '#lib/logger';
import { queue } from '#lib/queue/client';
import { TaskMessageSchema } from '#lib/tasks/schemas';
import { publishAfterCommit } from '#lib/tasks/service';
import { findTaskType } from '#lib/tasks/types/index';

/** What became of one queue message: handled (ack it) or to be delivered again later. */
export type MessageOutcome = 'done' | 'retry';

const MAX_ERROR_LENGTH = 2_000;
const PROGRESS_WRITE_MS = 200;

/** Delay before attempt `attempt + 1`: exponential from RETRY_BASE_MS, capped at RETRY_MAX_MS, with full jitter. */
export function retryDelayMs(attempt: number): number {
  const { RETRY_BASE_MS, RETRY_MAX_MS } = config();
  const ceiling = Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
}

class TimeoutError extends Error {
  override name = 'TimeoutError';
}

/** Progress reports written at most every PROGRESS_WRITE_MS, always keeping the last value. */
function progressWriter(id: string) {
  let last = -1;
  let pending: number | undefined;
  let timer: NodeJS.Timeout | undefined;
  let writing = Promise.resolve();
  const flush = () => {
    timer = undefined;
    if (pending === undefined || pending === last) return;
    const value = pending;
    last = value;
    writing = writing.then(() =>
      setProgress(db(), id, value).catch((err) => logger.warn('progress not saved', { task_id: id, error: err })),
    );
  };
  return {
    report(percent: number) {
      if (!Number.isFinite(percent)) return;
      pending = Math.max(0, Math.min(100, Math.round(percent)));
      timer ??= setTimeout(flush, PROGRESS_WRITE_MS);
    },
    async close() {
      clearTimeout(timer);
      timer = undefined;
      await writing;
    },
  };
}

/** Watches for the task leaving IN_PROGRESS (cancelled from anywhere) and aborts the run. */
function cancellationWatch(id: string, controller: AbortController) {
  const timer = setInterval(async () => {
    try {
      const status = await findTaskStatus(db(), id);
      if (status !== 'IN_PROGRESS') controller.abort(new Error(`task is ${status ?? 'gone'}`));
    } catch {}
  }, config().CANCEL_CHECK_MS);
  return () => clearInterval(timer);
}

async function deadLetter(body: string, reason: string): Promise<void> {
  await queue().publish('tasks.dlq', [{ body: JSON.stringify({ reason, message: body, at: new Date().toISOString() }) }]);
  logger.error('message sent to tasks.dlq', { reason });
}

/** Runs one `tasks` message: claims the task, runs its type with a signal and progress, records the outcome. */
export async function processTaskMessage(body: string): Promise<MessageOutcome> {
  let taskId: string;
  try {
    taskId = TaskMessageSchema.parse(JSON.parse(body)).task_id;
  } catch {
    await deadLetter(body, 'not a valid tasks message: expected {"task_id": "<uuid>"}');
    return 'done';
  }
  const claimed = await transition(db(), {
    id: taskId,
    from: ['PENDING'],
    to: 'IN_PROGRESS',
    reason: 'started',
    set: sql`started_at = now(), attempts = attempts + 1, progress = 0, error = NULL, finished_at = NULL`,
  });
  if (!claimed) {
    const status = await findTaskStatus(db(), taskId);
    // A task still NEW has a message that overtook its commit (the dispatcher's publish): try again shortly.
    if (status === 'NEW') return 'retry';
    logger.info('message skipped', { task_id: taskId, status: status ?? 'missing' });
    return 'done';
  }
  const log = logger.createChild({ persistentKeys: { task_id: taskId, attempt: claimed.attempts } });
  const type = findTaskType(claimed.type);
  if (!type) {
    await finish(taskId, 'FAILED', { error: `unknown task type '${claimed.type}'` });
    return 'done';
  }
  const controller = new AbortController();
  const timeoutMs = Math.min(claimed.timeout_ms ?? type.timeoutMs, type.timeoutMs);
  const timer = setTimeout(() => controller.abort(new TimeoutError('timeout')), timeoutMs);
  const stopWatch = cancellationWatch(taskId, controller);
  const progress = progressWriter(taskId);
  const started = Date.now();
  let outcome: { ok: true; result: unknown } | { ok: false; error: string };
  try {
    const payload = type.payload.parse(claimed.payload);
    const result = await type.run(payload, { signal: controller.signal, progress: progress.report });
    outcome = { ok: true, result: result ?? null };
  } catch (err) {
    const reason = controller.signal.aborted ? controller.signal.reason : err;
    outcome = { ok: false, error: reason instanceof TimeoutError ? 'timeout' : String((reason as Error)?.message ?? reason) };
  } finally {
    clearTimeout(timer);
    stopWatch();
    await progress.close();
  }
  const ms = Date.now() - started;
  if (outcome.ok) {
    const done = await finish(taskId, 'COMPLETED', { result: outcome.result });
    log.info(done ? 'task completed' : 'task finished after it was cancelled; result dropped', { ms });
    return 'done';
  }
  const error = outcome.error.slice(0, MAX_ERROR_LENGTH);
  if (claimed.attempts < claimed.max_attempts) {
    const delayMs = retryDelayMs(claimed.attempts);
    const requeued = await whileDatabaseIsAway(() =>
      transition(db(), {
        id: taskId,
        from: ['IN_PROGRESS'],
        to: 'PENDING',
        reason: `attempt ${claimed.attempts} failed; retry in ${delayMs} ms`,
        set: sql`error = ${error}, progress = NULL`,
        enqueue: true,
      }),
    );
    if (requeued) await publishAfterCommit(requeued, delayMs);
    log.warn('attempt failed; retrying', { ms, error, delay_ms: delayMs });
    return 'done';
  }
  const failed = await finish(taskId, 'FAILED', { error });
  log.warn(failed ? 'task failed' : 'task failed after it was cancelled', { ms, error });
  // The final failure leaves a dead letter for people to look at; the task itself already says FAILED.
  if (failed) {
    await deadLetter(body, `task ${taskId} failed after ${claimed.attempts} attempt(s): ${error}`).catch((err) =>
      log.error('dead letter not written', { error: err as Error }),
    );
  }
  return 'done';
}

/** Records a terminal outcome of a running task; false when it is no longer running (cancelled meanwhile). */
async function finish(id: string, to: 'COMPLETED' | 'FAILED', o: { result?: unknown; error?: string }): Promise<boolean> {
  const set =
    to === 'COMPLETED'
      ? sql`result = ${JSON.stringify(o.result ?? null)}::jsonb, progress = 100, error = NULL, finished_at = now()`
      : sql`error = ${o.error ?? 'failed'}, finished_at = now()`;
  // The outcome of a run that happened must not be lost to a database blip: keep trying for a while.
  const row = await whileDatabaseIsAway(() =>
    transition(db(), { id, from: ['IN_PROGRESS'], to, reason: to === 'COMPLETED' ? 'completed' : 'failed', set }),
  );
  return row !== undefined;
}
