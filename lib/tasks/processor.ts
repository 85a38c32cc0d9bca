import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { config, runCheckEveryMs } from '#lib/config';
import { db } from '#lib/db/client';
import { currentRuns, type Run, renewLeases } from '#lib/db/leases';
import { whileDatabaseIsAway } from '#lib/db/retry';
import { claimGatedTasks } from '#lib/db/task-types';
import { type ClaimedTask, claimTasks, type Finish, finishTasks, type Progress, saveProgress, transition } from '#lib/db/tasks';
import { batched } from '#lib/group-commit';
import { logger } from '#lib/logger';
import { observeTaskRun } from '#lib/metrics';
import { MOVES, type TaskStatus } from '#lib/model';
import { withRequestContext } from '#lib/request-context';
import { deadLetter, deadLetterFailedTask } from '#lib/tasks/dead-letters';
import { formatBytes } from '#lib/tasks/limits';
import { publishAfterCommit, selfPublishMs } from '#lib/tasks/outbox';
import { TaskMessageSchema } from '#lib/tasks/schemas';
import { logStatusChange } from '#lib/tasks/status-log';
import { releaseHeld } from '#lib/tasks/task-types';
import { findTaskType } from '#lib/tasks/types/index';
import { onTick } from '#lib/time';

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

/** Lease checks and progress writes of concurrent runs go to the database together (see `batched`). */
const RUN_UPKEEP = { maxBatch: 500, inFlight: 2 };
const isCurrent = batched<Run, boolean>((runs) => currentRuns(db(), runs), RUN_UPKEEP);
const renew = batched<Run, boolean>((runs) => renewLeases(db(), runs), RUN_UPKEEP);
const writeProgress = batched<Progress, void>(async (list) => {
  await saveProgress(db(), list);
  return list.map(() => undefined);
}, RUN_UPKEEP);

/**
 * A run's progress reports, written at most every PROGRESS_WRITE_MS, always keeping the last value. The writes of
 * every run in the process happen at the same tick (`onTick`), so that they share one statement.
 */
function progressWriter(id: string, startedAt: string) {
  let last = -1;
  let pending: number | undefined;
  let stopTick: (() => void) | undefined;
  let writing = Promise.resolve();
  const flush = () => {
    stopTick?.();
    stopTick = undefined;
    if (pending === undefined || pending === last) return;
    const percent = pending;
    last = percent;
    writing = writing.then(() =>
      writeProgress({ id, startedAt, percent }).catch((err) => logger.warn('progress not saved', { task_id: id, error: err })),
    );
  };
  return {
    report(percent: number) {
      if (!Number.isFinite(percent)) return;
      pending = Math.max(0, Math.min(100, Math.round(percent)));
      stopTick ??= onTick(PROGRESS_WRITE_MS, flush);
    },
    async close() {
      stopTick?.();
      stopTick = undefined;
      await writing;
    },
  };
}

/** Raised in a run's signal when its task was cancelled, or taken over by another run. */
class RunEndedError extends Error {
  override name = 'RunEndedError';
}

/**
 * Keeps a run's lease (a heartbeat every third of LEASE_MS) and watches, every CANCEL_CHECK_MS, for the run ending
 * elsewhere (cancelled from anywhere, or replaced by a later run), which aborts it. While the database cannot be
 * reached the run goes on, and its heartbeat is tried at every check until it gets through. The returned stop
 * waits for a check in flight, so that no renewal lands after the run has recorded its outcome.
 */
function watchRun(run: Run, controller: AbortController): () => Promise<void> {
  const { LEASE_MS } = config();
  const everyMs = runCheckEveryMs();
  // Renew at the first check at or after a third of the lease; timed by a monotonic clock, which a step of the
  // wall clock cannot stall.
  const renewEveryMs = LEASE_MS / 3 - everyMs;
  let renewed = performance.now();
  let stopped = false;
  let checking: Promise<void> | undefined;
  const check = async () => {
    try {
      // A run that looks ended may only have lost its lease (renewing takes it back, see renewLeases).
      if (performance.now() - renewed < renewEveryMs && (await isCurrent(run))) return;
      if (stopped) return;
      if (await renew(run)) renewed = performance.now();
      else controller.abort(new RunEndedError('the run was cancelled'));
    } catch {}
  };
  // On the tick shared by every run in the process: their checks go to the database in one statement.
  const stopTick = onTick(everyMs, () => {
    // A slow database gets one check at a time, not a pile of them.
    checking ??= check().finally(() => {
      checking = undefined;
    });
  });
  return async () => {
    stopped = true;
    stopTick();
    await checking;
  };
}

/** How long a run whose signal fired may take to stop before its outcome is recorded without it. */
export const ABANDON_AFTER_MS = 5_000;

/**
 * Runs `work` until it settles, or until `graceMs` after `signal` fires, whichever is first: a task type that
 * ignores its signal is abandoned (its promise left to settle unheard) and the run ends with the signal's reason.
 */
export function untilAbandoned<T>(work: Promise<T>, signal: AbortSignal, graceMs = ABANDON_AFTER_MS): Promise<T> {
  work.catch(() => {});
  let timer: NodeJS.Timeout | undefined;
  const abandoned = new Promise<never>((_, reject) => {
    const start = () => {
      timer = setTimeout(() => reject(signal.reason), graceMs);
    };
    if (signal.aborted) start();
    else signal.addEventListener('abort', start, { once: true });
  });
  return Promise.race([work, abandoned]).finally(() => clearTimeout(timer));
}

/**
 * Claims and finishes go to the database in groups (see `batched`): the messages of a batch, and of concurrent
 * invocations, are claimed in one statement, and tasks finishing together are recorded in one.
 */
const CLAIMS = { maxBatch: 500, inFlight: 2 };

interface Claim {
  task?: ClaimedTask;
  /** Claimed through its type's gate (paused or limited): its end may give a held task of the type room. */
  gated?: boolean;
  /** Not claimed: its type is paused or at its limit (the task waits, held, for a new message). */
  held?: boolean;
  /** The claim of its gated type failed (the plain claim of the batch's other tasks stands): deliver it again. */
  failed?: unknown;
  status?: TaskStatus;
}

/** Claims a task (PENDING -> IN_PROGRESS) together with the other messages of its batch; else says its status. */
const claim = batched<string, Claim>(async (ids) => {
  const first = await claimTasks(db(), [...new Set(ids)]);
  // The tasks the first statement claimed are committed: a failure of the gated claim must not take them down too,
  // or their messages would come back to find them IN_PROGRESS, and they would wait for their lease.
  let gateError: unknown;
  const gate = await claimGatedTasks(db(), first.gated).catch((err: unknown) => {
    gateError = err;
    return { claimed: [], held: [], others: new Map<string, TaskStatus>() };
  });
  const gatedIds = new Set(first.gated);
  const won = new Map([...first.claimed, ...gate.claimed].map((t) => [t.id, t]));
  const viaGate = new Set(gate.claimed.map((t) => t.id));
  const held = new Set(gate.held);
  const claimedIds = new Set(won.keys());
  // The same task twice in a batch: the first message runs it, the others find it IN_PROGRESS.
  return ids.map((id): Claim => {
    const task = won.get(id);
    if (task) {
      won.delete(id);
      return { task, gated: viaGate.has(id) };
    }
    if (held.has(id)) return { held: true, status: 'PENDING' };
    if (gateError !== undefined && gatedIds.has(id)) return { failed: gateError };
    return { status: first.others.get(id) ?? gate.others.get(id) ?? (claimedIds.has(id) ? 'IN_PROGRESS' : undefined) };
  });
}, CLAIMS);

/** Lets held tasks of types whose runs ended go, types of runs ending together in one statement. */
const releaseAfterRuns = batched<string, number>(async (types) => {
  const released = await releaseHeld([...new Set(types)]);
  return types.map(() => released);
}, CLAIMS);

/** Records the outcomes of tasks finishing together in one statement; true for each that was still running. */
const finishTogether = batched<Finish, boolean>(async (items) => {
  // The outcome of a run that happened must not be lost to a database blip: keep trying for a while.
  // As long as two leases: a run whose lease lapsed meanwhile is still recorded (see finishTasks).
  const finished = await whileDatabaseIsAway(() => finishTasks(db(), items), Math.max(30_000, 2 * config().LEASE_MS));
  return items.map((f) => finished.has(f.id));
}, CLAIMS);

/** The status-change line of a run (lib/tasks/status-log.ts), with its attempt. */
const runMoved = (run: ClaimedTask, to: TaskStatus, reason: string, extra: Record<string, unknown> = {}) =>
  logStatusChange({ task_id: run.id, type: run.type, from: 'IN_PROGRESS', to, reason, attempt: run.attempts, ...extra });

/** The run time of an attempt that ran its type (lib/metrics.ts). */
const timeRun = (run: ClaimedTask, outcome: 'completed' | 'failed' | 'retried', ms: number) =>
  observeTaskRun({ type: run.type, outcome }, ms / 1000);

/** Runs one `tasks` message: claims the task, runs its type with a signal and progress, records the outcome. */
export async function processTaskMessage(body: string): Promise<MessageOutcome> {
  let taskId: string;
  try {
    taskId = TaskMessageSchema.parse(JSON.parse(body)).task_id;
  } catch {
    await deadLetter('tasks', body, 'not a valid tasks message: expected {"task_id": "<uuid>"}');
    return 'done';
  }
  const { task: claimed, status, gated, held, failed } = await claim(taskId);
  if (failed !== undefined) throw failed;
  if (held) {
    logger.info('task held: its type is paused or at its concurrency limit', { task_id: taskId });
    return 'done';
  }
  if (!claimed) {
    // A task still NEW has an outbox row, which the dispatcher publishes: this message (published by a create
    // whose confirm timed out) is not needed.
    logger.info('message skipped', { task_id: taskId, status: status ?? 'missing' });
    return 'done';
  }
  // Every log line of the run carries the task's id and the id of the request that created it.
  const context = { request_id: claimed.request_id ?? randomUUID(), task_id: taskId };
  try {
    return await withRequestContext(context, () => runClaimed(claimed, body));
  } finally {
    // A run of a gated type has ended (or gone back to the queue): a held task of its type may start.
    if (gated) await releaseAfterRuns(claimed.type);
  }
}

/** Runs a claimed task's type with a signal and progress, and records the outcome. */
async function runClaimed(claimed: ClaimedTask, body: string): Promise<MessageOutcome> {
  const taskId = claimed.id;
  logStatusChange({
    task_id: taskId,
    type: claimed.type,
    from: 'PENDING',
    to: 'IN_PROGRESS',
    reason: 'started',
    attempt: claimed.attempts,
  });
  const type = findTaskType(claimed.type);
  if (!type) {
    const error = `unknown task type '${claimed.type}'`;
    if (await finish(claimed, 'FAILED', { error })) runMoved(claimed, 'FAILED', 'failed', { error });
    return 'done';
  }
  const controller = new AbortController();
  const timeoutMs = Math.min(claimed.timeout_ms ?? type.timeoutMs, type.timeoutMs);
  const timer = setTimeout(() => controller.abort(new TimeoutError('timeout')), timeoutMs);
  const stopWatch = watchRun({ id: taskId, startedAt: claimed.started_at }, controller);
  const progress = progressWriter(taskId, claimed.started_at);
  const started = Date.now();
  let outcome: { ok: true; result: unknown } | { ok: false; error: string };
  try {
    const payload = type.payload.parse(claimed.payload);
    const result = await untilAbandoned(type.run(payload, { signal: controller.signal, progress: progress.report }), controller.signal);
    // A result too large to store and answer (GET /api/v1/tasks/{id}) fails the run instead.
    const bytes = Buffer.byteLength(JSON.stringify(result ?? null));
    const limit = config().TASK_RESULT_MAX_BYTES;
    if (bytes > limit) throw new Error(`result too large: ${bytes} bytes; the limit is ${formatBytes(limit)}`);
    outcome = { ok: true, result: result ?? null };
  } catch (err) {
    const reason = controller.signal.aborted ? controller.signal.reason : err;
    outcome = { ok: false, error: reason instanceof TimeoutError ? 'timeout' : String((reason as Error)?.message ?? reason) };
  } finally {
    clearTimeout(timer);
    await stopWatch();
    await progress.close();
  }
  const ms = Date.now() - started;
  timeRun(claimed, outcome.ok ? 'completed' : claimed.attempts < claimed.max_attempts ? 'retried' : 'failed', ms);
  if (outcome.ok) {
    const done = await finish(claimed, 'COMPLETED', { result: outcome.result });
    if (done) runMoved(claimed, 'COMPLETED', 'completed', { ms });
    else logger.info('task finished after it was cancelled; result dropped', { ms });
    return 'done';
  }
  const error = outcome.error.slice(0, MAX_ERROR_LENGTH);
  if (claimed.attempts < claimed.max_attempts) {
    const delayMs = retryDelayMs(claimed.attempts);
    const requeued = await whileDatabaseIsAway(() =>
      transition(db(), {
        id: taskId,
        move: MOVES.requeue,
        reason: `attempt ${claimed.attempts} failed; retry in ${delayMs} ms`,
        // No heartbeat: this run has let the task go, and must not take it back (see renewLeases).
        set: sql`error = ${error}, progress = NULL, heartbeat_at = NULL`,
        enqueue: { availableInMs: selfPublishMs(delayMs) },
        run: claimed.started_at,
        failedAttempt: true,
      }),
    );
    if (requeued) {
      runMoved(claimed, 'PENDING', `attempt ${claimed.attempts} failed; retry in ${delayMs} ms`, { ms, error, delay_ms: delayMs });
      await publishAfterCommit(requeued, delayMs);
    } else logger.info('attempt failed after it was cancelled', { ms, error });
    return 'done';
  }
  const failed = await finish(claimed, 'FAILED', { error });
  if (failed) runMoved(claimed, 'FAILED', 'failed', { ms, error });
  else logger.info('task failed after it was cancelled', { ms, error });
  if (failed) await deadLetterFailedTask(taskId, claimed.attempts, error, body);
  return 'done';
}

/** Records a terminal outcome of a running task; false when it is no longer running (cancelled meanwhile). */
function finish(run: ClaimedTask, to: 'COMPLETED' | 'FAILED', o: { result?: unknown; error?: string }): Promise<boolean> {
  return finishTogether({ id: run.id, startedAt: run.started_at, to, result: o.result, error: o.error });
}
