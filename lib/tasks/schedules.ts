import { setTimeout as sleep } from 'node:timers/promises';
import { db } from '#lib/db/client';
import {
  advanceSchedule,
  deleteSchedule as deleteScheduleRow,
  findSchedule,
  insertSchedule,
  lockDueSchedules,
  type ScheduleValues,
  updateSchedule as updateScheduleRow,
} from '#lib/db/schedules';
import type { ScheduleRow } from '#lib/db/schema';
import { insertQueuedTasks, newTaskId } from '#lib/db/tasks';
import { logger } from '#lib/logger';
import { taskValues } from '#lib/tasks/commands';
import { nextRunAfter } from '#lib/tasks/cron';
import { ConflictError, InvalidInputError, NotFoundError, zodIssuesToFieldErrors } from '#lib/tasks/errors';
import { toSchedule, toTask } from '#lib/tasks/mapping';
import { publishAfterCommit, type Queued, selfPublishMs } from '#lib/tasks/outbox';
import { SCHEDULE_NOT_FOUND } from '#lib/tasks/schedule-queries';
import {
  type CreateScheduleInput,
  type CreateTaskInput,
  type Schedule,
  ScheduleTaskSchema,
  type Task,
  type UpdateScheduleInput,
} from '#lib/tasks/schemas';

// Changing recurring schedules (reading them: schedule-queries.ts), and the scheduler tick that turns each due
// time into exactly one task.
//
// Exactly once: the tick takes due schedules with FOR UPDATE SKIP LOCKED, and in the same transaction creates the
// task (through the tasks' own insert: events and outbox row included) and moves next_run_at on; the unique index
// tasks(schedule_id, schedule_due_at) refuses a second task for a due time whatever happens. Missed due times (no
// scheduler ran) make ONE catch-up run: the task of the earliest missed time, then next_run_at jumps to the first
// time after now.

/** A schedule's task body checked against its task type now; errors name `task.<field>`. */
function checkedTask(task: CreateTaskInput) {
  try {
    return taskValues(task);
  } catch (err) {
    if (!(err instanceof InvalidInputError)) throw err;
    throw new InvalidInputError(
      err.errors.map((e) => ({ ...e, path: `task.${e.path}` })),
      err.message,
    );
  }
}

/** The next due time of an enabled schedule after `after`; null while disabled. */
const nextRun = (s: Pick<ScheduleValues, 'cron' | 'timezone' | 'enabled'>, after: Date) =>
  s.enabled ? nextRunAfter(s.cron, s.timezone, after) : null;

/** Creates a schedule; its first run is the first due time after now. ConflictError when the name is taken. */
export async function createSchedule(input: CreateScheduleInput): Promise<Schedule> {
  checkedTask(input.task);
  const values = { ...input, next_run_at: nextRun(input, new Date()) };
  const row = await insertSchedule(db(), values);
  if (!row) throw new ConflictError(`A schedule named '${input.name}' exists already`);
  return toSchedule(row);
}

/**
 * Changes a schedule. A new cron, time zone or enabling counts the next run from now (the times it missed while
 * disabled are not caught up); disabling clears next_run_at.
 */
export async function updateSchedule(id: string, input: UpdateScheduleInput): Promise<Schedule> {
  if (input.task) checkedTask(input.task);
  const row = await db().transaction(async (tx) => {
    const current = await findSchedule(tx, id, true);
    if (!current) throw new NotFoundError(SCHEDULE_NOT_FOUND);
    const merged = { ...current, ...input };
    const retimed = merged.enabled !== current.enabled || merged.cron !== current.cron || merged.timezone !== current.timezone;
    const changed = await updateScheduleRow(tx, id, retimed ? { ...input, next_run_at: nextRun(merged, new Date()) } : input);
    if (changed === 'name_taken') throw new ConflictError(`A schedule named '${input.name}' exists already`);
    return changed;
  });
  if (!row) throw new NotFoundError(SCHEDULE_NOT_FOUND);
  return toSchedule(row);
}

/** Deletes a schedule; the tasks it created stay (their schedule_id becomes null). NotFoundError when there is none. */
export async function deleteSchedule(id: string): Promise<void> {
  if (!(await deleteScheduleRow(db(), id))) throw new NotFoundError(SCHEDULE_NOT_FOUND);
}

/**
 * A schedule's task as the columns of a new task, for a due time (null: a run by hand). InvalidInputError when the
 * stored body no longer fits (its task type went away, or its schemas changed since it was stored).
 */
function scheduledTask(schedule: ScheduleRow, dueAt: Date | null) {
  const body = ScheduleTaskSchema.safeParse(schedule.task);
  if (!body.success) throw new InvalidInputError(zodIssuesToFieldErrors(body.error.issues), 'The task body is not valid');
  return {
    ...taskValues(body.data),
    id: newTaskId(),
    idempotency_key: null,
    request_hash: null,
    schedule_id: schedule.id,
    schedule_due_at: dueAt,
  };
}

/** Publishes the messages of tasks committed with outbox rows (the dispatcher publishes what this misses). */
const publishAll = (rows: Queued[]) => Promise.all(rows.map((row) => publishAfterCommit(row)));

function storedTaskOrConflict(schedule: ScheduleRow) {
  try {
    return scheduledTask(schedule, null);
  } catch (err) {
    if (!(err instanceof InvalidInputError)) throw err;
    const fields = err.errors.map((e) => `task.${e.path}: ${e.message}`).join('; ');
    throw new ConflictError(`The schedule's task no longer fits its task type (${fields}); give it a new one with PATCH`);
  }
}

/** Runs a schedule once now, whatever its timing (also when disabled); its next due time stays. */
export async function triggerSchedule(id: string): Promise<Task> {
  const row = await db().transaction(async (tx) => {
    const schedule = await findSchedule(tx, id, true);
    if (!schedule) throw new NotFoundError(SCHEDULE_NOT_FOUND);
    const task = storedTaskOrConflict(schedule);
    const inserted = await insertQueuedTasks(tx, [task], selfPublishMs());
    await advanceSchedule(tx, id, schedule.next_run_at, new Date());
    return inserted.get(task.id) as Queued;
  });
  return toTask(await publishAfterCommit(row));
}

const TICK_BATCH = 100;

/**
 * The scheduler's tick: creates the task of every schedule that is due (one per due time, however many ticks run
 * at once) and moves each schedule's next_run_at to its first due time after now. Returns the tasks created.
 */
export async function runDueSchedules(): Promise<number> {
  let created = 0;
  for (;;) {
    const { taken, rows } = await db().transaction(async (tx) => {
      const { rows: due, now } = await lockDueSchedules(tx, TICK_BATCH);
      const tasks = [];
      for (const schedule of due) {
        let next: Date | null = null;
        let lastRun = schedule.last_run_at;
        try {
          next = nextRun(schedule, now);
          tasks.push(scheduledTask(schedule, schedule.next_run_at));
          lastRun = now;
        } catch (err) {
          // One schedule that cannot run (its stored body no longer fits, or its cron no longer parses) must not
          // hold up the others: its run is skipped (and with no next due time, it waits for a PATCH).
          logger.error('a schedule could not create its task; the run is skipped', { schedule_id: schedule.id, error: err as Error });
        }
        await advanceSchedule(tx, schedule.id, next, lastRun);
      }
      const inserted = await insertQueuedTasks(tx, tasks, selfPublishMs());
      return { taken: due.length, rows: [...inserted.values()] };
    });
    await publishAll(rows);
    created += rows.length;
    if (taken < TICK_BATCH) break;
  }
  if (created) logger.info('scheduled tasks created', { created });
  return created;
}

/**
 * Runs the scheduler's tick every `everyMs` for `forMs` (once when `forMs` is 0), so that a due time is met within
 * about `everyMs` between the invocations of a coarser schedule. A failed tick is logged and the next one goes on.
 * Returns the tasks created.
 */
export async function runDueSchedulesRepeatedly({ forMs = 0, everyMs }: { forMs?: number; everyMs: number }): Promise<number> {
  const start = Date.now();
  let created = 0;
  for (let at = start; ; at += everyMs) {
    await sleep(Math.max(0, at - Date.now()));
    try {
      created += await runDueSchedules();
    } catch (err) {
      logger.error('scheduler tick failed', { error: err as Error });
    }
    if (at + everyMs >= start + forMs) break;
  }
  return created;
}
