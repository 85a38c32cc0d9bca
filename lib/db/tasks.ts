import { and, asc, eq, getTableColumns, gte, ilike, inArray, lt, or, type SQL, sql } from 'drizzle-orm';
import { v7 as uuidv7 } from 'uuid';
import { arrayOf, uuids } from '#lib/db/arrays';
import type { Executor } from '#lib/db/client';
import { countTasksBy } from '#lib/db/counts';
import { fromOf, moved, recordEvents, status } from '#lib/db/events';
import { insertTaskMessages, setTaskMessagesPriority } from '#lib/db/outbox';
import { type TaskEventRow, type TaskRow, taskEvents, tasks } from '#lib/db/schema';
import { EDITABLE, MOVES, RESCHEDULABLE, type TaskPriority, type TaskStatus } from '#lib/model';

/**
 * The id of a new task: a UUID whose first 48 bits are the time in milliseconds (version 7, RFC 9562), so that new
 * keys land at the right edge of the indexes on task ids (the tasks' primary key, and the events' index on their task)
 * instead of at random pages across them. Once those indexes outgrow the buffer cache, a random id made each insert
 * read and dirty pages all over both (docs/benchmarks.md, "Cost as the data grows"). One process's ids never go
 * backwards, within a millisecond or if the clock does: the package keeps a counter.
 */
export const newTaskId = (): string => uuidv7();

export interface NewTask {
  type: string;
  title: string;
  description: string | null;
  priority: TaskRow['priority'];
  payload: Record<string, unknown>;
  max_attempts: number;
  timeout_ms: number | null;
  idempotency_key: string | null;
  request_hash: string | null;
  /** The recurring schedule that creates the task, and the due time it runs for (NULL for a run by hand). */
  schedule_id?: string | null;
  schedule_due_at?: Date | null;
  /** When to start (ISO), or null: now plus `delay_ms`, or at once when both are null. */
  run_at?: string | null;
  delay_ms?: number | null;
  /** Where to POST the task when it ends (see lib/tasks/callbacks.ts). */
  callback_url?: string | null;
  /** The id of the request that created it (lib/request-context.ts). */
  request_id?: string | null;
}

/** A changed task, with its outbox row (if one was written) and its status before the change (if it changed). */
type Returned = TaskRow & { outbox_id: number | null; prev_status: TaskStatus | null };

function toReturned(row: Record<string, unknown> | undefined): Returned | undefined {
  // Raw queries give timestamps as Date and jsonb as values, as Drizzle does; only bigint needs converting.
  if (!row) return undefined;
  return {
    ...(row as TaskRow),
    outbox_id: row.outbox_id == null ? null : Number(row.outbox_id),
    prev_status: (row.prev_status as TaskStatus | undefined) ?? null,
  };
}

/**
 * Inserts tasks (ids chosen by the caller) with their events, in one statement: a task whose start time (`run_at`,
 * or now + `delay_ms`) is in the future is stored SCHEDULED (its `SCHEDULED` event), any other already `PENDING`
 * (its `NEW` and `PENDING` events) with its outbox message. Returns the inserted ones by id (`outbox_id` null for a
 * SCHEDULED one): a task whose idempotency key is taken is left out.
 */
export async function insertQueuedTasks(
  ex: Executor,
  list: readonly (NewTask & { id: string })[],
  /** When the dispatcher may publish the messages, if the caller has not by then. */
  availableInMs: number,
): Promise<Map<string, Returned>> {
  const inserted = new Map<string, Returned>();
  if (list.length === 0) return inserted;
  // One array per column: the statement's text is the same for any number of tasks.
  const column = (pick: (task: NewTask & { id: string }) => unknown, type: string) => arrayOf(list.map(pick), type);
  const scheduled = sql`status = ${status('SCHEDULED')}`;
  const result = await ex.execute(sql`
    WITH v AS (
      SELECT v.*, COALESCE(v.at, now() + make_interval(secs => v.delay_ms::float8 / 1000.0)) AS start_at
      FROM unnest(${column((task) => task.id, 'uuid')}, ${column((task) => task.type, 'text')}, ${column((task) => task.title, 'text')},
        ${column((task) => task.description, 'text')}, ${column((task) => task.priority, 'task_priority')},
        ${column((task) => JSON.stringify(task.payload), 'jsonb')}, ${column((task) => task.max_attempts, 'integer')},
        ${column((task) => task.timeout_ms, 'integer')}, ${column((task) => task.idempotency_key, 'text')},
        ${column((task) => task.request_hash, 'text')}, ${column((task) => task.run_at ?? null, 'timestamptz')},
        ${column((task) => task.delay_ms ?? null, 'bigint')}, ${column((task) => task.schedule_id ?? null, 'uuid')},
        ${column((task) => task.schedule_due_at?.toISOString() ?? null, 'timestamptz')}, ${column((task) => task.callback_url ?? null, 'text')},
        ${column((task) => task.request_id ?? null, 'text')})
        AS v(id, type, title, description, priority, payload, max_attempts, timeout_ms, idempotency_key, request_hash, at, delay_ms,
          schedule_id, schedule_due_at, callback_url, request_id)
    ),
    t AS (
      INSERT INTO tasks (id, type, title, description, priority, payload, status, max_attempts, timeout_ms, idempotency_key, request_hash,
        run_at, schedule_id, schedule_due_at, callback_url, request_id)
      SELECT id, type, title, description, priority, payload,
        CASE WHEN start_at > now() THEN ${status('SCHEDULED')} ELSE ${status(MOVES.queue.to)} END,
        max_attempts, timeout_ms, idempotency_key, request_hash, start_at, schedule_id, schedule_due_at, callback_url, request_id
      FROM v
      -- No target: a taken idempotency key and a schedule's due time that has its task already are both left out.
      ON CONFLICT DO NOTHING
      RETURNING *
    ),
    q AS (SELECT id, priority FROM t WHERE NOT (${scheduled})),
    e AS (${recordEvents(
      't',
      { from: sql`NULL::task_status`, to: status('NEW'), reason: 'created', where: sql`NOT (${scheduled})` },
      moved(MOVES.queue, 'queued', sql`NOT (${scheduled})`, status('NEW')),
      { from: sql`NULL::task_status`, to: status('SCHEDULED'), reason: 'scheduled', where: scheduled },
    )}),
    o AS (${insertTaskMessages('q', availableInMs)} RETURNING id, (body->>'task_id')::uuid AS task_id)
    SELECT t.*, o.id AS outbox_id FROM t LEFT JOIN o ON o.task_id = t.id`);
  for (const row of result.rows) {
    const returned = toReturned(row) as Returned;
    inserted.set(returned.id, returned);
  }
  return inserted;
}

/**
 * Releases up to `limit` SCHEDULED tasks that are due (SCHEDULED -> PENDING, with the event and the outbox row) in
 * one statement; rows another releaser holds are skipped. Returns them with their outbox ids, to publish after commit.
 */
export async function releaseDueTasks(ex: Executor, limit: number, availableInMs: number): Promise<Returned[]> {
  // The conditions of tasks_scheduled_run_at_idx spelled out, so that the planner uses it.
  const result = await ex.execute(sql`
    WITH due AS (
      SELECT id, status FROM tasks
      WHERE status = ANY(${fromOf(MOVES.release)}) AND run_at IS NOT NULL AND started_at IS NULL AND finished_at IS NULL
        AND run_at <= now()
      ORDER BY run_at LIMIT ${limit} FOR UPDATE SKIP LOCKED
    ),
    u AS (
      UPDATE tasks t SET status = ${status(MOVES.release.to)}, updated_at = now()
      FROM due WHERE t.id = due.id
      RETURNING t.*, due.status AS prev_status
    ),
    e AS (${recordEvents('u', moved(MOVES.release, 'due'))}),
    o AS (${insertTaskMessages('u', availableInMs)} RETURNING id, (body->>'task_id')::uuid AS task_id)
    SELECT u.*, o.id AS outbox_id FROM u JOIN o ON o.task_id = u.id`);
  return result.rows.map((row) => toReturned(row) as Returned);
}

/** Milliseconds until the next SCHEDULED task is due (0 when one is due already), or null when none is scheduled. */
export async function msUntilNextRelease(ex: Executor): Promise<number | null> {
  // Not GREATEST(0, ...) in SQL, which skips a NULL: with nothing scheduled it would answer 0, "due now", and the
  // releaser would poll in a busy loop while the service stands idle.
  const result = await ex.execute<{ ms: number | null }>(sql`
    SELECT (EXTRACT(EPOCH FROM min(run_at) - clock_timestamp()) * 1000)::float8 AS ms FROM tasks
    WHERE status = ANY(${fromOf(MOVES.release)}) AND run_at IS NOT NULL AND started_at IS NULL AND finished_at IS NULL`);
  const ms = result.rows[0]?.ms;
  return ms == null ? null : Math.max(0, Number(ms));
}

/** The task with this idempotency key, if any. */
export async function findTaskByIdempotencyKey(ex: Executor, key: string): Promise<TaskRow | undefined> {
  const [row] = await ex.select().from(tasks).where(eq(tasks.idempotency_key, key)).limit(1);
  return row;
}

/** Frees the idempotency keys whose task is older than `hours` (a key is honoured for that long); true if any was. */
export async function releaseExpiredIdempotencyKey(ex: Executor, keys: string | readonly string[], hours: number): Promise<boolean> {
  const list = typeof keys === 'string' ? [keys] : keys;
  if (list.length === 0) return false;
  const res = await ex
    .update(tasks)
    .set({ idempotency_key: null })
    .where(and(inArray(tasks.idempotency_key, [...list]), lt(tasks.created_at, sql`now() - make_interval(hours => ${hours})`)))
    .returning({ id: tasks.id });
  return res.length > 0;
}

/** The tasks with these idempotency keys, by key. */
export async function findTasksByIdempotencyKeys(ex: Executor, keys: readonly string[]): Promise<Map<string, TaskRow>> {
  if (keys.length === 0) return new Map();
  const rows = await ex
    .select()
    .from(tasks)
    .where(inArray(tasks.idempotency_key, [...keys]));
  return new Map(rows.map((row) => [row.idempotency_key as string, row]));
}

/** The task with this id, if any. */
export async function findTask(ex: Executor, id: string): Promise<TaskRow | undefined> {
  const [row] = await ex.select().from(tasks).where(eq(tasks.id, id)).limit(1);
  return row;
}

/** Only the status of a task, if it exists. */
export async function findTaskStatus(ex: Executor, id: string): Promise<TaskStatus | undefined> {
  const [row] = await ex.select({ status: tasks.status }).from(tasks).where(eq(tasks.id, id)).limit(1);
  return row?.status;
}

function escapeLike(s: string): string {
  return s.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/** A task as a list carries it: its payload and result are null when left out for their size, and flags say so. */
export type TaskListRow = Omit<TaskRow, 'payload'> & {
  payload: TaskRow['payload'] | null;
  payload_omitted: boolean;
  result_omitted: boolean;
};

/** A jsonb column as JSON text when it is at most `maxBytes` long, else NULL: a large value never leaves the database. */
const small = (column: typeof tasks.payload | typeof tasks.result, maxBytes: number) =>
  sql<string | null>`CASE WHEN octet_length(${column}::text) <= ${maxBytes} THEN ${column}::text END`;

/** The filters and page of a task list (all filters combined with AND). */
export interface TaskQuery {
  status?: TaskStatus[];
  priority?: TaskPriority;
  type?: string;
  /** ISO times: from inclusive, to exclusive. */
  created_from?: string;
  created_to?: string;
  /** A case-insensitive substring of the title or the description. */
  search?: string;
  /** The recurring schedule that created the tasks. */
  schedule_id?: string;
  limit: number;
  offset: number;
  /** The page after this position of the newest-first order (keyset paging). */
  after?: { created_at: string; id: string };
  /** A total beyond what the kept counts answer is counted up to this many, and then reported as a lower bound. */
  countCap: number;
  /** Payloads and results longer than this (as JSON) are left out of the items. */
  maxValueBytes: number;
}

// Newest first, as the indexes on created_at and id hold the rows (NULLS LAST as they do: PostgreSQL's default for
// DESC is NULLS FIRST, which no index here serves, and sorting the whole table instead took 0.5 s at 1 M tasks).
const NEWEST_FIRST = [sql`${tasks.created_at} DESC NULLS LAST`, sql`${tasks.id} DESC NULLS LAST`];

/**
 * How many tasks match: exact from the kept counts (lib/db/counts.ts) when the filters are status, type and priority
 * only, else counted up to `countCap` matches and then reported as a lower bound.
 */
async function countMatching(ex: Executor, q: TaskQuery, filter: SQL | undefined): Promise<{ total: number; exact: boolean }> {
  // Only status, type and priority are kept counts' dimensions: any other filter is counted.
  if (!q.search && !q.created_from && !q.created_to && !q.schedule_id) {
    return { total: await countTasksBy(ex, { status: q.status, type: q.type, priority: q.priority }), exact: true };
  }
  const res = await ex.execute<{ n: number }>(
    sql`SELECT count(*)::int AS n FROM (SELECT 1 FROM tasks WHERE ${filter ?? sql`true`} LIMIT ${q.countCap + 1}) capped`,
  );
  const n = res.rows[0]?.n ?? 0;
  return n > q.countCap ? { total: q.countCap, exact: false } : { total: n, exact: true };
}

/** One page of tasks matching the filters, newest first, with the total count; large payloads and results are left out. */
export async function listTasks(ex: Executor, q: TaskQuery): Promise<{ items: TaskListRow[]; total: number; totalExact: boolean }> {
  const where: SQL[] = [];
  if (q.status) where.push(inArray(tasks.status, q.status));
  if (q.priority) where.push(eq(tasks.priority, q.priority));
  if (q.type) where.push(eq(tasks.type, q.type));
  if (q.schedule_id) where.push(eq(tasks.schedule_id, q.schedule_id));
  if (q.created_from) where.push(gte(tasks.created_at, new Date(q.created_from)));
  if (q.created_to) where.push(lt(tasks.created_at, new Date(q.created_to)));
  if (q.search) {
    const pattern = `%${escapeLike(q.search)}%`;
    where.push(or(ilike(tasks.title, pattern), ilike(tasks.description, pattern)) as SQL);
  }
  const filter = where.length ? and(...where) : undefined;
  const position = q.after
    ? sql`(${tasks.created_at}, ${tasks.id}) < (${q.after.created_at}::timestamptz, ${q.after.id}::uuid)`
    : undefined;
  // The page's ids first, then their rows: the size test reads each value whole, so it runs on the page's rows only,
  // not on every row that the sort or the offset goes through.
  const page = ex
    .select({ id: tasks.id })
    .from(tasks)
    .where(position ? and(filter, position) : filter)
    .orderBy(...NEWEST_FIRST)
    .limit(q.limit)
    .offset(q.offset)
    .as('page');
  const { payload: _payload, result: _result, ...columns } = getTableColumns(tasks);
  const [rows, counted] = await Promise.all([
    ex
      .select({
        ...columns,
        payload_json: small(tasks.payload, q.maxValueBytes),
        result_json: small(tasks.result, q.maxValueBytes),
        has_result: sql<boolean>`${tasks.result} IS NOT NULL`,
      })
      .from(tasks)
      .innerJoin(page, eq(tasks.id, page.id))
      .orderBy(...NEWEST_FIRST),
    countMatching(ex, q, filter),
  ]);
  const items = rows.map(({ payload_json, result_json, has_result, ...row }) => ({
    ...row,
    payload: payload_json === null ? null : (JSON.parse(payload_json) as TaskRow['payload']),
    payload_omitted: payload_json === null,
    result: result_json === null ? null : (JSON.parse(result_json) as unknown),
    // A result that is JSON null is stored (not SQL NULL) and small: it is not left out.
    result_omitted: has_result && result_json === null,
  }));
  return { items, total: counted.total, totalExact: counted.exact };
}

/** The events of a task, oldest first. */
export async function listTaskEvents(ex: Executor, id: string): Promise<TaskEventRow[]> {
  return ex.select().from(taskEvents).where(eq(taskEvents.task_id, id)).orderBy(asc(taskEvents.id));
}

export interface Transition {
  id: string;
  move: (typeof MOVES)[keyof typeof MOVES];
  reason: string;
  /** Further columns to set, as raw SQL assignments (`result = ...`). */
  set?: SQL;
  /** Also write the task's run message to the outbox, in the same statement, for the dispatcher after this long. */
  enqueue?: { availableInMs: number };
  /** Only if the task is still in this run (its `started_at`). */
  run?: string;
  /** The move ends a failed attempt: its event carries the task's `attempts` and (as set) `error`. */
  failedAttempt?: boolean;
}

/**
 * Makes a move of the state machine in one conditional statement, recording the event (and an outbox row).
 * Returns the updated task, or undefined when the task was not in a status the move starts from (or does not exist).
 */
export async function transition(ex: Executor, t: Transition): Promise<Returned | undefined> {
  const extra = t.set ? sql`, ${t.set}` : sql``;
  const runGuard = t.run ? sql`AND started_at = ${t.run}::timestamptz` : sql``;
  const from = fromOf(t.move);
  const outbox = t.enqueue ? sql`${insertTaskMessages('u', t.enqueue.availableInMs)} RETURNING id` : sql`SELECT NULL::bigint AS id`;
  const result = await ex.execute(sql`
    WITH prev AS (
      SELECT id, status FROM tasks WHERE id = ${t.id} AND status = ANY(${from}) ${runGuard} FOR UPDATE
    ),
    u AS (
      UPDATE tasks t SET status = ${status(t.move.to)}, updated_at = now() ${extra}
      FROM prev WHERE t.id = prev.id AND t.status = ANY(${from})
      RETURNING t.*, prev.status AS prev_status
    ),
    e AS (${recordEvents('u', { ...moved(t.move, t.reason), failedAttempt: t.failedAttempt ? { attempt: sql`attempts`, error: sql`error` } : undefined })}),
    o AS (${outbox})
    SELECT u.*, (SELECT id FROM o LIMIT 1) AS outbox_id FROM u`);
  return toReturned(result.rows[0]);
}

/**
 * Writes the run message of a PENDING task to the outbox again (its message was lost), without a move; undefined
 * when the task is not PENDING.
 */
export async function queueMessageAgain(ex: Executor, id: string, availableInMs: number): Promise<Returned | undefined> {
  const result = await ex.execute(sql`
    WITH t AS (SELECT * FROM tasks WHERE id = ${id} AND status = ANY(${fromOf(MOVES.claim)}) FOR UPDATE),
    o AS (${insertTaskMessages('t', availableInMs)} RETURNING id)
    SELECT t.*, (SELECT id FROM o LIMIT 1) AS outbox_id FROM t`);
  return toReturned(result.rows[0]);
}

/** A claimed run; `started_at` identifies the run, so that a later run of the same task is never mistaken for it. */
export type ClaimedTask = Pick<TaskRow, 'id' | 'type' | 'payload' | 'attempts' | 'max_attempts' | 'timeout_ms' | 'request_id'> & {
  /** As PostgreSQL wrote it (raw queries return timestamps as text); compared back as timestamptz. */
  started_at: string;
};

/**
 * Claims the PENDING tasks among `ids` (PENDING -> IN_PROGRESS, recording the events, starting their lease) in one
 * conditional statement. Returns the claimed tasks, and the status of every other task of `ids` that exists.
 *
 * NEW tasks are locked too: a dispatcher that is publishing a task's message holds its row (NEW -> PENDING, not yet
 * committed), and its message can arrive first. Waiting for that lock lets the claim see the task PENDING; a task
 * that is still NEW afterwards has an outbox row, so another message will come.
 *
 * Tasks of a type that is paused or limited (lib/db/task-types.ts) are left PENDING and answered in `gated`, for
 * claimGatedTasks, unless `gated` is true: the caller has already picked them under their types' locks.
 */
export async function claimTasks(
  ex: Executor,
  ids: readonly string[],
  { gated = false }: { gated?: boolean } = {},
): Promise<{ claimed: ClaimedTask[]; others: Map<string, TaskStatus>; gated: string[] }> {
  if (ids.length === 0) return { claimed: [], others: new Map(), gated: [] };
  const gate = gated
    ? sql``
    : sql`AND NOT EXISTS (SELECT 1 FROM task_type_settings g WHERE g.name = t.type AND (g.paused OR g.concurrency IS NOT NULL))`;
  // Rows are locked in id order (as the dispatcher does), so that two statements locking overlapping tasks cannot deadlock.
  const result = await ex.execute(sql`
    WITH prev AS (
      SELECT id, status FROM tasks WHERE id = ANY(${uuids(ids)})
        AND (status = ANY(${fromOf(MOVES.claim)}) OR status = ANY(${fromOf(MOVES.queue)})) ORDER BY id FOR UPDATE
    ),
    u AS (
      UPDATE tasks t SET status = ${status(MOVES.claim.to)}, updated_at = now(), started_at = now(), heartbeat_at = now(),
        attempts = t.attempts + 1, progress = 0, error = NULL, finished_at = NULL, held_at = NULL
      FROM prev WHERE t.id = prev.id AND prev.status = ANY(${fromOf(MOVES.claim)}) ${gate}
      RETURNING t.id, t.type, t.payload, t.attempts, t.max_attempts, t.timeout_ms, t.request_id, t.started_at, t.updated_at,
        prev.status AS prev_status
    ),
    e AS (${recordEvents('u', moved(MOVES.claim, 'started'))})
    SELECT id, type, payload, attempts, max_attempts, timeout_ms, request_id, started_at, NULL::task_status AS status FROM u
    UNION ALL
    SELECT id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, status FROM prev
    WHERE NOT (status = ANY(${fromOf(MOVES.claim)})) OR NOT EXISTS (SELECT 1 FROM u WHERE u.id = prev.id)
    UNION ALL
    SELECT id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, status FROM tasks t
    WHERE t.id = ANY(${uuids(ids)}) AND NOT EXISTS (SELECT 1 FROM prev WHERE prev.id = t.id)`);
  const claimed: ClaimedTask[] = [];
  const others = new Map<string, TaskStatus>();
  const waiting: string[] = [];
  for (const row of result.rows as Array<ClaimedTask & { status: TaskStatus | null }>) {
    const { status, ...task } = row;
    if (status === null) claimed.push(task);
    // Locked PENDING and not claimed: only the gate leaves a task so.
    else if (status === MOVES.claim.from[0]) waiting.push(task.id);
    else others.set(task.id, status);
  }
  return { claimed, others, gated: waiting };
}

/** The terminal outcome of a running task, for `finishTasks`. */
export interface Finish {
  id: string;
  /** The run's `started_at`: only that run may finish it. */
  startedAt: string;
  to: 'COMPLETED' | 'FAILED';
  result?: unknown;
  error?: string;
}

/**
 * Records terminal outcomes of runs (IN_PROGRESS -> COMPLETED or FAILED, with their events) in one conditional
 * statement. Returns the ids whose run was still theirs: a task cancelled meanwhile keeps its status. A run whose
 * lease lapsed while it could not reach the database (its task back in PENDING, not started again: `started_at`
 * is still the run's) is still recorded, so that the work it did is kept and the task does not run twice.
 */
export async function finishTasks(ex: Executor, finishes: readonly Finish[]): Promise<Set<string>> {
  if (finishes.length === 0) return new Set();
  const ids = finishes.map((f) => f.id);
  const tos = finishes.map((f) => f.to);
  const results = finishes.map((f) => (f.to === 'COMPLETED' ? JSON.stringify(f.result ?? null) : null));
  const errors = finishes.map((f) => (f.to === 'FAILED' ? (f.error ?? 'failed') : null));
  const runs = finishes.map((f) => f.startedAt);
  const result = await ex.execute<{ id: string }>(sql`
    WITH v AS (
      SELECT * FROM unnest(${uuids(ids)}, ${arrayOf(tos, 'task_status')}, ${arrayOf(results, 'jsonb')}, ${arrayOf(errors, 'text')},
        ${arrayOf(runs, 'timestamptz')})
        AS v(id, to_status, result, error, started_at)
    ),
    prev AS (
      SELECT t.id, t.status FROM tasks t WHERE t.id = ANY(${uuids(ids)})
        AND (t.status = ANY(${fromOf(MOVES.complete)}) OR (t.status = ANY(${fromOf(MOVES.resume)}) AND t.heartbeat_at IS NOT NULL))
      ORDER BY t.id FOR UPDATE
    ),
    u AS (
      UPDATE tasks t SET status = v.to_status, updated_at = now(), finished_at = now(), heartbeat_at = NULL,
        result = CASE WHEN v.to_status = ${status(MOVES.complete.to)} THEN v.result ELSE t.result END,
        progress = CASE WHEN v.to_status = ${status(MOVES.complete.to)} THEN 100 ELSE t.progress END,
        error = CASE WHEN v.to_status = ${status(MOVES.complete.to)} THEN NULL ELSE v.error END
      FROM v, prev WHERE t.id = v.id AND t.id = prev.id AND t.started_at = v.started_at
      RETURNING t.id, t.status, t.updated_at, t.attempts, t.error, prev.status AS prev_status
    ),
    -- A run whose lease lapsed first takes its task back (the resume move), then finishes it.
    e AS (${recordEvents('u', moved(MOVES.resume, 'lease renewed: the run was alive', sql`prev_status = ANY(${fromOf(MOVES.resume)})`), {
      from: status('IN_PROGRESS'),
      to: sql`status`,
      reason: sql`CASE WHEN status = ${status(MOVES.complete.to)} THEN 'completed' ELSE 'failed' END`,
      failedAttempt: {
        attempt: sql`CASE WHEN status = ${status(MOVES.fail.to)} THEN attempts END`,
        error: sql`CASE WHEN status = ${status(MOVES.fail.to)} THEN error END`,
      },
    })})
    SELECT id FROM u`);
  return new Set(result.rows.map((r) => r.id));
}

/** A new start time for a SCHEDULED task: a time (ISO), or now plus a delay. */
export type Reschedule = { run_at: string; delay_ms?: undefined } | { run_at?: undefined; delay_ms: number };

/**
 * Changes editable fields of a task that is still waiting (SCHEDULED, NEW or PENDING), and with `reschedule` its
 * start time, which only a SCHEDULED task may change; undefined when the task is not in such a status. A start
 * time that has come is released by the releaser (lib/tasks/scheduler.ts) within its cadence.
 */
export async function updateWaitingTask(
  ex: Executor,
  id: string,
  fields: Partial<Pick<TaskRow, 'title' | 'description' | 'priority' | 'payload'>>,
  /** Its priority changed: if it is PENDING, also write its run message to the outbox, for the dispatcher after this long. */
  enqueue?: { availableInMs: number },
  reschedule?: Reschedule,
): Promise<Returned | undefined> {
  return ex.transaction(async (tx) => {
    const runAt = reschedule
      ? reschedule.run_at !== undefined
        ? sql`${reschedule.run_at}::timestamptz`
        : sql`now() + make_interval(secs => ${reschedule.delay_ms}::float8 / 1000.0)`
      : undefined;
    const [row] = await tx
      .update(tasks)
      .set({ ...fields, ...(runAt ? { run_at: runAt } : {}), updated_at: sql`now()` })
      .where(and(eq(tasks.id, id), inArray(tasks.status, reschedule ? RESCHEDULABLE : EDITABLE)))
      .returning();
    if (!row) return undefined;
    // Messages not published yet (a NEW task's outbox row, or one waiting out a grace) go out with the new priority.
    const waiting = fields.priority ? await setTaskMessagesPriority(tx, id, fields.priority) : 0;
    // A PENDING task is given a message with its new priority (decided here, under the row's lock, as a releaser or a
    // run may have moved it since the caller looked). Not one whose lease lapsed (its heartbeat kept) while its
    // requeued message still waits out the grace in which the run may be alive and take it back: a message sent now
    // would cut that short. Once that message is out, a new one is as harmless as for any PENDING task.
    const inGrace = row.heartbeat_at !== null && waiting > 0;
    const requeue = enqueue && row.status === 'PENDING' && !inGrace;
    let outbox_id: number | null = null;
    if (requeue) {
      const r = await tx.execute<{ id: string }>(
        sql`WITH t AS (SELECT id, priority FROM tasks WHERE id = ${id}) ${insertTaskMessages('t', enqueue.availableInMs)} RETURNING id`,
      );
      outbox_id = Number(r.rows[0]?.id);
    }
    return { ...row, outbox_id, prev_status: null };
  });
}

/** A running run's progress, for `saveProgress`. */
export interface Progress {
  id: string;
  /** The run's `started_at`: only that run may write it. */
  startedAt: string;
  percent: number;
}

/**
 * Writes the progress of runs (each only while its run is the task's running one) in one statement; no event: progress
 * is not a status change. Its rows are locked in id order first, as renewLeases and finishTasks lock theirs: rows
 * locked in the order of the list would deadlock with a renewal of the same runs.
 */
export async function saveProgress(ex: Executor, list: readonly Progress[]): Promise<void> {
  if (list.length === 0) return;
  await ex.execute(sql`
    WITH v AS (
      SELECT * FROM unnest(${uuids(list.map((p) => p.id))}, ${arrayOf(
        list.map((p) => p.startedAt),
        'timestamptz',
      )}, ${arrayOf(
        list.map((p) => p.percent),
        'smallint',
      )}) AS v(id, started_at, percent)
    ),
    locked AS (
      SELECT t.id, v.percent FROM tasks t JOIN v ON t.id = v.id AND t.started_at = v.started_at
      WHERE t.status = ${status(MOVES.claim.to)}
      ORDER BY t.id FOR UPDATE OF t
    )
    UPDATE tasks t SET progress = locked.percent, updated_at = now() FROM locked WHERE t.id = locked.id`);
}
