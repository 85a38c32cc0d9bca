import { and, asc, count, desc, eq, gte, ilike, inArray, lt, or, type SQL, sql } from 'drizzle-orm';
import type { Executor } from '#lib/db/client';
import { type TaskEventRow, type TaskRow, taskEvents, tasks } from '#lib/db/schema';
import type { ListTasksQuery } from '#lib/tasks/schemas';
import { QUEUE_PRIORITY, type TaskStatus } from '#lib/tasks/status';

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
}

/** The outbox row of a task's run message: queue `tasks`, body `{ task_id }`, the queue priority of the task's priority. */
const taskOutboxRow = (alias: string) =>
  sql.raw(
    `'tasks', jsonb_build_object('task_id', ${alias}.id), CASE ${alias}.priority WHEN 'LOW' THEN ${QUEUE_PRIORITY.LOW} WHEN 'MEDIUM' THEN ${QUEUE_PRIORITY.MEDIUM} ELSE ${QUEUE_PRIORITY.HIGH} END`,
  );

type Returned = TaskRow & { outbox_id: number | null };

function toReturned(row: Record<string, unknown> | undefined): Returned | undefined {
  // Raw queries give timestamps as Date and jsonb as values, as Drizzle does; only bigint needs converting.
  if (!row) return undefined;
  return { ...(row as TaskRow), outbox_id: row.outbox_id == null ? null : Number(row.outbox_id) };
}

/**
 * Inserts a task already `PENDING`, its `NEW` and `PENDING` events, and its outbox message, in one statement.
 * Returns undefined when the idempotency key is taken.
 */
export async function insertQueuedTask(ex: Executor, task: NewTask): Promise<Returned | undefined> {
  const result = await ex.execute(sql`
    WITH t AS (
      INSERT INTO tasks (type, title, description, priority, payload, status, max_attempts, timeout_ms, idempotency_key, request_hash)
      VALUES (${task.type}, ${task.title}, ${task.description}, ${task.priority}, ${JSON.stringify(task.payload)}::jsonb,
              'PENDING', ${task.max_attempts}, ${task.timeout_ms}, ${task.idempotency_key}, ${task.request_hash})
      ON CONFLICT (idempotency_key) DO NOTHING
      RETURNING *
    ),
    e AS (
      INSERT INTO task_events (task_id, from_status, to_status, at, reason)
      SELECT id, NULL::task_status, 'NEW'::task_status, created_at, 'created' FROM t
      UNION ALL
      SELECT id, 'NEW'::task_status, 'PENDING'::task_status, created_at, 'queued' FROM t
    ),
    o AS (
      INSERT INTO outbox (queue, body, priority)
      SELECT ${taskOutboxRow('t')} FROM t
      RETURNING id
    )
    SELECT t.*, o.id AS outbox_id FROM t, o`);
  return toReturned(result.rows[0]);
}

/** The task with this idempotency key, if any. */
export async function findTaskByIdempotencyKey(ex: Executor, key: string): Promise<TaskRow | undefined> {
  const [row] = await ex.select().from(tasks).where(eq(tasks.idempotency_key, key)).limit(1);
  return row;
}

/** Frees an idempotency key whose task is older than `hours` (a key is honoured for that long). */
export async function releaseExpiredIdempotencyKey(ex: Executor, key: string, hours: number): Promise<boolean> {
  const res = await ex
    .update(tasks)
    .set({ idempotency_key: null })
    .where(and(eq(tasks.idempotency_key, key), lt(tasks.created_at, sql`now() - make_interval(hours => ${hours})`)))
    .returning({ id: tasks.id });
  return res.length > 0;
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

/** One page of tasks matching the filters, newest first, with the total count. */
export async function listTasks(ex: Executor, q: ListTasksQuery): Promise<{ items: TaskRow[]; total: number }> {
  const where: SQL[] = [];
  if (q.status) where.push(inArray(tasks.status, q.status));
  if (q.priority) where.push(eq(tasks.priority, q.priority));
  if (q.type) where.push(eq(tasks.type, q.type));
  if (q.created_from) where.push(gte(tasks.created_at, new Date(q.created_from)));
  if (q.created_to) where.push(lt(tasks.created_at, new Date(q.created_to)));
  if (q.search) {
    const pattern = `%${escapeLike(q.search)}%`;
    where.push(or(ilike(tasks.title, pattern), ilike(tasks.description, pattern)) as SQL);
  }
  const filter = where.length ? and(...where) : undefined;
  const [items, [totalRow]] = await Promise.all([
    ex.select().from(tasks).where(filter).orderBy(desc(tasks.created_at), desc(tasks.id)).limit(q.limit).offset(q.offset),
    ex.select({ n: count() }).from(tasks).where(filter),
  ]);
  return { items, total: totalRow?.n ?? 0 };
}

/** The events of a task, oldest first. */
export async function listTaskEvents(ex: Executor, id: string): Promise<TaskEventRow[]> {
  return ex.select().from(taskEvents).where(eq(taskEvents.task_id, id)).orderBy(asc(taskEvents.id));
}

export interface Transition {
  id: string;
  from: readonly TaskStatus[];
  to: TaskStatus;
  reason: string;
  /** Further columns to set, as raw SQL assignments (`result = ...`). */
  set?: SQL;
  /** Also write the task's run message to the outbox, in the same statement. */
  enqueue?: boolean;
}

/**
 * Moves a task from one of `from` to `to` in one conditional statement, recording the event (and an outbox row).
 * Returns the updated task, or undefined when the task was not in one of `from` (or does not exist).
 */
export async function transition(ex: Executor, t: Transition): Promise<Returned | undefined> {
  const extra = t.set ? sql`, ${t.set}` : sql``;
  const from = sql.join(
    t.from.map((s) => sql`${s}::task_status`),
    sql`, `,
  );
  const outbox = t.enqueue
    ? sql`INSERT INTO outbox (queue, body, priority) SELECT ${taskOutboxRow('u')} FROM u RETURNING id`
    : sql`SELECT NULL::bigint AS id`;
  const result = await ex.execute(sql`
    WITH prev AS (
      SELECT id, status FROM tasks WHERE id = ${t.id} AND status IN (${from}) FOR UPDATE
    ),
    u AS (
      UPDATE tasks t SET status = ${t.to}, updated_at = now() ${extra}
      FROM prev WHERE t.id = prev.id AND t.status IN (${from})
      RETURNING t.*, prev.status AS prev_status
    ),
    e AS (
      INSERT INTO task_events (task_id, from_status, to_status, at, reason)
      SELECT id, prev_status, status, updated_at, ${t.reason} FROM u
    ),
    o AS (${outbox})
    SELECT u.*, (SELECT id FROM o LIMIT 1) AS outbox_id FROM u`);
  return toReturned(result.rows[0]);
}

/** Changes editable fields of a task that is still waiting (NEW or PENDING); undefined when it is not. */
export async function updateWaitingTask(
  ex: Executor,
  id: string,
  fields: Partial<Pick<TaskRow, 'title' | 'description' | 'priority' | 'payload'>>,
  enqueue: boolean,
): Promise<Returned | undefined> {
  return ex.transaction(async (tx) => {
    const [row] = await tx
      .update(tasks)
      .set({ ...fields, updated_at: sql`now()` })
      .where(and(eq(tasks.id, id), inArray(tasks.status, ['NEW', 'PENDING'])))
      .returning();
    if (!row) return undefined;
    let outbox_id: number | null = null;
    if (enqueue) {
      const r = await tx.execute<{ id: string }>(
        sql`INSERT INTO outbox (queue, body, priority) SELECT ${taskOutboxRow('t')} FROM tasks t WHERE t.id = ${id} RETURNING id`,
      );
      outbox_id = Number(r.rows[0]?.id);
    }
    return { ...row, outbox_id };
  });
}

/** Saves the progress of a running task (no event: progress is not a status change). */
export async function setProgress(ex: Executor, id: string, percent: number): Promise<void> {
  await ex
    .update(tasks)
    .set({ progress: percent, updated_at: sql`now()` })
    .where(and(eq(tasks.id, id), eq(tasks.status, 'IN_PROGRESS')));
}

/**
 * Finds tasks left IN_PROGRESS past their lease (`leaseFactor` times their timeout) by a worker that died,
 * and puts them back in the queue (with an outbox row each), or fails them once they have been lost too often.
 */
export async function requeueExpiredLeases(ex: Executor, leaseFactor: number, typeTimeouts: Record<string, number>, maxLost = 3) {
  const fallback = Math.max(...Object.values(typeTimeouts));
  const cases = sql.join(
    Object.entries(typeTimeouts).map(([type, ms]) => sql`WHEN ${type} THEN ${ms}::int`),
    sql` `,
  );
  const res = await ex.execute<{ id: string; status: string }>(sql`
    WITH lost AS (
      SELECT id, status, attempts, max_attempts FROM tasks
      WHERE status = 'IN_PROGRESS'
        AND started_at < now() - make_interval(secs => ${leaseFactor}::float8 * coalesce(timeout_ms, CASE type ${cases} ELSE ${fallback}::int END) / 1000.0)
      FOR UPDATE SKIP LOCKED
    ),
    u AS (
      UPDATE tasks t SET
        status = CASE WHEN lost.attempts >= lost.max_attempts + ${maxLost}::int THEN 'FAILED'::task_status ELSE 'PENDING'::task_status END,
        error = 'lease expired: the worker running this attempt was lost',
        progress = NULL,
        finished_at = CASE WHEN lost.attempts >= lost.max_attempts + ${maxLost}::int THEN now() END,
        updated_at = now()
      FROM lost WHERE t.id = lost.id
      RETURNING t.id, t.status, t.priority, t.updated_at
    ),
    e AS (
      INSERT INTO task_events (task_id, from_status, to_status, at, reason)
      SELECT id, 'IN_PROGRESS', status, updated_at, 'lease expired' FROM u
    ),
    o AS (
      INSERT INTO outbox (queue, body, priority, created_at)
      SELECT ${taskOutboxRow('u')}, now() - interval '1 hour' FROM u WHERE u.status = 'PENDING'
    )
    SELECT id, status FROM u`);
  return res.rows;
}
