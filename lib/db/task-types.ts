import { sql } from 'drizzle-orm';
import { arrayOf, uuids } from '#lib/db/arrays';
import type { Executor } from '#lib/db/client';
import { insertTaskMessages } from '#lib/db/outbox';
import type { TaskRow } from '#lib/db/schema';
import { type ClaimedTask, claimTasks } from '#lib/db/tasks';
import { TASK_PRIORITIES, type TaskPriority } from '#lib/model';

// Run-time settings of task types: a paused type starts no run, a limited one at most `concurrency` at once across
// every process. The claim is the gate (lib/db/tasks.ts claimTasks leaves a gated type's tasks to claimGatedTasks
// here, which counts under the type's row lock); a task the gate turns away stays PENDING and is held (`held_at`):
// its message is acknowledged, and releaseHeldTasks writes a new one when the type has room again.

export type TypeSettings = {
  name: string;
  paused: boolean;
  concurrency: number | null;
};

/** The settings rows of every type that has one, and how many runs of each type are in progress. */
export async function listTypeStates(ex: Executor): Promise<{ settings: TypeSettings[]; running: Map<string, number> }> {
  const [settings, running] = await Promise.all([
    ex.execute<TypeSettings>(sql`SELECT name, paused, concurrency FROM task_type_settings`),
    ex.execute<{ type: string; n: number }>(sql`SELECT type, count(*)::int AS n FROM tasks WHERE status = 'IN_PROGRESS' GROUP BY type`),
  ]);
  return { settings: settings.rows, running: new Map(running.rows.map((r) => [r.type, r.n])) };
}

/** Changes the settings of a type (fields left undefined keep their value) and answers them. */
export async function saveTypeSettings(
  ex: Executor,
  name: string,
  change: { paused?: boolean; concurrency?: number | null },
): Promise<TypeSettings> {
  const setPaused = change.paused !== undefined;
  const setLimit = change.concurrency !== undefined;
  const res = await ex.execute<TypeSettings>(sql`
    INSERT INTO task_type_settings AS s (name, paused, concurrency)
    VALUES (${name}, ${change.paused ?? false}, ${change.concurrency ?? null})
    ON CONFLICT (name) DO UPDATE SET
      paused = CASE WHEN ${setPaused} THEN excluded.paused ELSE s.paused END,
      concurrency = CASE WHEN ${setLimit} THEN excluded.concurrency ELSE s.concurrency END,
      updated_at = now()
    RETURNING name, paused, concurrency`);
  return res.rows[0] as TypeSettings;
}

/**
 * Of the PENDING tasks among `ids` (all of gated types), picks those that may start now: none of a paused type, and
 * of a limited type as many as it has room for, highest priority first. The types' settings rows are locked first,
 * so that concurrent claimers of one type count one after another (each statement of the transaction sees the runs
 * committed before it), and the tasks after them. Call inside a transaction that claims the picked tasks before it
 * commits (claimTasks with `gated`).
 */
export async function pickStartable(tx: Executor, ids: readonly string[]): Promise<{ start: string[]; hold: string[] }> {
  if (ids.length === 0) return { start: [], hold: [] };
  const gates = await tx.execute<TypeSettings>(sql`
    SELECT name, paused, concurrency FROM task_type_settings
    WHERE name IN (SELECT type FROM tasks WHERE id = ANY(${uuids(ids)})) ORDER BY name FOR UPDATE`);
  const room = new Map<string, number>();
  const limited = gates.rows.filter((g) => !g.paused && g.concurrency !== null).map((g) => g.name);
  const running = limited.length
    ? await tx.execute<{ type: string; n: number }>(sql`
        SELECT type, count(*)::int AS n FROM tasks WHERE status = 'IN_PROGRESS' AND type = ANY(${arrayOf(limited, 'text')}) GROUP BY type`)
    : { rows: [] };
  const runs = new Map(running.rows.map((r) => [r.type, r.n]));
  for (const g of gates.rows) {
    room.set(g.name, g.paused ? 0 : g.concurrency === null ? Number.POSITIVE_INFINITY : g.concurrency - (runs.get(g.name) ?? 0));
  }
  // Locked in id order, as every statement that locks several tasks does, so that none of them can deadlock.
  const locked = await tx.execute<{ id: string; type: string; status: string; priority: TaskPriority; created_at: string }>(sql`
    SELECT id, type, status, priority, created_at FROM tasks WHERE id = ANY(${uuids(ids)}) ORDER BY id FOR UPDATE`);
  const rank = (p: TaskPriority) => TASK_PRIORITIES.indexOf(p);
  const waiting = locked.rows
    .filter((t) => t.status === 'PENDING')
    .sort((a, b) => rank(b.priority) - rank(a.priority) || Date.parse(a.created_at) - Date.parse(b.created_at));
  const start: string[] = [];
  const hold: string[] = [];
  for (const t of waiting) {
    const left = room.get(t.type) ?? Number.POSITIVE_INFINITY;
    if (left > 0) {
      start.push(t.id);
      room.set(t.type, left - 1);
    } else hold.push(t.id);
  }
  return { start, hold };
}

/**
 * Claims what it may of PENDING tasks of gated types (those claimTasks answered in `gated`), in one transaction:
 * picks them under their types' locks, claims those, and holds the others (their message is taken; releaseHeldTasks
 * writes a new one later). Answers the claimed tasks, the held ids, and the status of the rest.
 */
export async function claimGatedTasks(
  ex: Executor,
  ids: readonly string[],
): Promise<{ claimed: ClaimedTask[]; held: string[]; others: Map<string, TaskRow['status']> }> {
  if (ids.length === 0) return { claimed: [], held: [], others: new Map() };
  return ex.transaction(async (tx) => {
    const { start, hold } = await pickStartable(tx, ids);
    if (hold.length) await tx.execute(sql`UPDATE tasks SET held_at = now() WHERE id = ANY(${uuids(hold)})`);
    const { claimed, others } = await claimTasks(tx, start, { gated: true });
    const answered = new Set([...start, ...hold]);
    // Not PENDING any more when locked (cancelled, say): their status, as claimTasks would say it.
    const rest = ids.filter((id) => !answered.has(id));
    if (rest.length) for (const [id, s] of (await claimTasks(tx, rest, { gated: true })).others) others.set(id, s);
    return { claimed, held: hold, others };
  });
}

/** How many held tasks of a type without a limit one release lets go. */
const RELEASE_BATCH = 1_000;

/**
 * Lets held tasks go as far as their types have room (of `types`, or of every type): clears `held_at` and writes
 * their run messages to the outbox, for the caller to publish after the commit. One statement; room is counted
 * without the type's lock, so two releases at once may let a few too many go: the claim, which counts under the
 * lock, holds those again.
 */
export async function releaseHeldTasks(
  ex: Executor,
  availableInMs: number,
  types?: readonly string[],
): Promise<Array<TaskRow & { outbox_id: number }>> {
  const only = types ? sql`AND t.type = ANY(${arrayOf(types, 'text')})` : sql``;
  const res = await ex.execute(sql`
    WITH s AS (SELECT DISTINCT t.type AS name FROM tasks t WHERE t.held_at IS NOT NULL AND t.status = 'PENDING' ${only}),
    free AS (
      SELECT s.name, CASE
        WHEN g.paused THEN 0
        WHEN g.concurrency IS NULL THEN ${RELEASE_BATCH}
        ELSE LEAST(${RELEASE_BATCH}, GREATEST(0, g.concurrency
          - (SELECT count(*) FROM tasks r WHERE r.type = s.name AND r.status = 'IN_PROGRESS')
          - (SELECT count(*) FROM tasks q WHERE q.type = s.name AND q.status = 'PENDING' AND q.held_at IS NULL)))
        END AS n
      FROM s LEFT JOIN task_type_settings g ON g.name = s.name
    ),
    pick AS (
      SELECT p.id FROM free, LATERAL (
        SELECT t.id FROM tasks t WHERE t.type = free.name AND t.status = 'PENDING' AND t.held_at IS NOT NULL
        ORDER BY t.priority DESC, t.created_at, t.id LIMIT free.n FOR UPDATE SKIP LOCKED
      ) p
    ),
    u AS (UPDATE tasks t SET held_at = NULL FROM pick WHERE t.id = pick.id RETURNING t.*),
    o AS (${insertTaskMessages('u', availableInMs)} RETURNING id, body)
    SELECT u.*, o.id AS outbox_id FROM u JOIN o ON (o.body->>'task_id')::uuid = u.id`);
  return (res.rows as Array<TaskRow & { outbox_id: string }>).map((r) => ({ ...r, outbox_id: Number(r.outbox_id) }));
}
