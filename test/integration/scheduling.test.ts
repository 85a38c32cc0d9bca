import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { uuids } from '#lib/db/arrays';
import { releaseDueTasks } from '#lib/db/tasks';
import { runMaintenance } from '#lib/tasks/dispatcher';
import { processIntakeMessage } from '#lib/tasks/intake';
import { releaseDue, runReleaseLoop } from '#lib/tasks/scheduler';
import { handler as dispatcher } from '../../functions/dispatcher';
import { handler as cancel } from '../../functions/tasks-cancel';
import { handler as create } from '../../functions/tasks-create';
import { handler as events } from '../../functions/tasks-events';
import { handler as get } from '../../functions/tasks-get';
import { handler as list } from '../../functions/tasks-list';
import { handler as update } from '../../functions/tasks-update';
import { useTestApp } from '../helpers/app';
import { fakeContext, httpEvent, invoke } from '../helpers/lambda';
import { expectOnlyAllowedMoves } from '../helpers/moves';

const app = useTestApp();

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

const post = (body: object, headers?: Record<string, string>) =>
  invoke(create, httpEvent({ method: 'POST', path: '/api/v1/tasks', body, headers }));
const byId = (handler: Parameters<typeof invoke>[0], method: string, id: string, suffix = '', body?: object) =>
  invoke(handler, httpEvent({ method, path: `/api/v1/tasks/${id}${suffix}`, pathParameters: { id }, body }));

async function messagesOf(id: string): Promise<number> {
  const r = await app.db.db.execute<{ n: string }>(sql`SELECT count(*) AS n FROM queue_messages WHERE body LIKE ${`%${id}%`}`);
  return Number(r.rows[0]?.n);
}
async function outboxOf(id: string): Promise<number> {
  const r = await app.db.db.execute<{ n: string }>(sql`SELECT count(*) AS n FROM outbox WHERE body->>'task_id' = ${id}`);
  return Number(r.rows[0]?.n);
}
const eventsOf = async (id: string) =>
  (await byId(events, 'GET', id, '/events')).body.items.map((e: { from_status: string | null; to_status: string; reason: string }) => [
    e.from_status,
    e.to_status,
    e.reason,
  ]);
/** Makes a SCHEDULED task due now, as if its time had come. */
const makeDue = (ids: string[]) =>
  app.db.db.execute(sql`UPDATE tasks SET run_at = now() - interval '1 millisecond' WHERE id = ANY(${uuids(ids)})`);

describe('scheduled tasks', () => {
  it('stores a task with a future run_at SCHEDULED: no message, no outbox row, its run_at in the answer', async () => {
    const runAt = new Date(Date.now() + 3_600_000).toISOString();
    const res = await post({ title: 'later', run_at: runAt, payload: { duration_ms: 0 } });
    expect(res.statusCode).toBe(201);
    expect(res.body).toMatchObject({ status: 'SCHEDULED', run_at: runAt, started_at: null, finished_at: null });
    expect(res.headers.location).toBe(`/api/v1/tasks/${res.body.id}`);
    expect(await messagesOf(res.body.id)).toBe(0);
    expect(await outboxOf(res.body.id)).toBe(0);
    expect(await eventsOf(res.body.id)).toEqual([[null, 'SCHEDULED', 'scheduled']]);
    expect((await byId(get, 'GET', res.body.id)).body).toEqual(res.body);
  });

  it('takes delay_ms from now; 0, or a run_at not in the future, is an ordinary create that keeps its run_at', async () => {
    const before = Date.now();
    const delayed = await post({ title: 'in a minute', delay_ms: 60_000 });
    expect(delayed.body.status).toBe('SCHEDULED');
    const at = Date.parse(delayed.body.run_at);
    expect(at).toBeGreaterThanOrEqual(before + 60_000 - 1_000);
    expect(at).toBeLessThanOrEqual(Date.now() + 60_000 + 1_000);

    const now = await post({ title: 'no delay', delay_ms: 0 });
    expect(now.body).toMatchObject({ status: 'PENDING', run_at: expect.stringMatching(ISO) });
    const past = await post({ title: 'past', run_at: '2020-01-01T00:00:00Z' });
    expect(past.body).toMatchObject({ status: 'PENDING', run_at: '2020-01-01T00:00:00.000Z' });
    expect(await messagesOf(past.body.id)).toBe(1);
    expect(await eventsOf(past.body.id)).toEqual([
      [null, 'NEW', 'created'],
      ['NEW', 'PENDING', 'queued'],
    ]);
    const plain = await post({ title: 'plain' });
    expect(plain.body.run_at).toBeNull();
  });

  it('422 for run_at with delay_ms, a bad run_at, a negative or fractional delay', async () => {
    const both = await post({ title: 'x', run_at: new Date().toISOString(), delay_ms: 5 });
    expect(both.statusCode).toBe(422);
    expect(both.body.errors).toEqual([{ path: 'delay_ms', message: 'give either run_at or delay_ms, not both' }]);
    for (const [body, path] of [
      [{ title: 'x', run_at: 'tomorrow' }, 'run_at'],
      [{ title: 'x', run_at: '2026-13-01T00:00:00Z' }, 'run_at'],
      [{ title: 'x', delay_ms: -1 }, 'delay_ms'],
      [{ title: 'x', delay_ms: 1.5 }, 'delay_ms'],
      [{ title: 'x', delay_ms: '100' }, 'delay_ms'],
    ] as const) {
      const res = await post(body);
      expect(res.statusCode, JSON.stringify(body)).toBe(422);
      expect(res.body.errors.map((e: { path: string }) => e.path)).toEqual([path]);
    }
  });

  it('filters the list by status=SCHEDULED', async () => {
    const res = await post({ title: 'filter me', delay_ms: 3_600_000 });
    const page = await invoke(list, httpEvent({ method: 'GET', path: '/api/v1/tasks', query: { status: 'SCHEDULED', limit: '100' } }));
    expect(page.statusCode).toBe(200);
    expect(page.body.items.map((t: { id: string }) => t.id)).toContain(res.body.id);
    expect(page.body.items.every((t: { status: string }) => t.status === 'SCHEDULED')).toBe(true);
  });

  it('PATCH moves run_at (or delay_ms) while SCHEDULED, edits other fields, and refuses a new run_at otherwise (409)', async () => {
    const { body: task } = await post({ title: 'move me', delay_ms: 3_600_000 });
    const runAt = new Date(Date.now() + 7_200_000).toISOString();
    const moved = await byId(update, 'PATCH', task.id, '', { run_at: runAt, title: 'moved' });
    expect(moved.statusCode).toBe(200);
    expect(moved.body).toMatchObject({ id: task.id, status: 'SCHEDULED', run_at: runAt, title: 'moved' });
    const delayed = await byId(update, 'PATCH', task.id, '', { delay_ms: 120_000 });
    expect(Math.abs(Date.parse(delayed.body.run_at) - (Date.now() + 120_000))).toBeLessThan(2_000);
    const both = await byId(update, 'PATCH', task.id, '', { delay_ms: 1, run_at: runAt });
    expect(both.statusCode).toBe(422);

    const { body: pending } = await post({ title: 'already queued' });
    const refused = await byId(update, 'PATCH', pending.id, '', { run_at: runAt });
    expect(refused.statusCode).toBe(409);
    expect(refused.body.detail).toBe('Cannot reschedule a task that is PENDING; only SCHEDULED tasks can be');
    expect((await byId(update, 'PATCH', pending.id, '', { title: 'fine' })).statusCode).toBe(200);

    // A start time that has come: the releaser's next round queues the task.
    await byId(update, 'PATCH', task.id, '', { run_at: new Date(Date.now() - 1_000).toISOString() });
    await releaseDue();
    expect((await byId(get, 'GET', task.id)).body.status).toBe('PENDING');
    expect(await messagesOf(task.id)).toBe(1);
  });

  it('cancels a SCHEDULED task, which then is never released', async () => {
    const { body: task } = await post({ title: 'never mind', delay_ms: 3_600_000 });
    const res = await byId(cancel, 'DELETE', task.id);
    expect(res.statusCode).toBe(200);
    expect(res.body).toMatchObject({ status: 'CANCELLED', finished_at: expect.stringMatching(ISO) });
    await makeDue([task.id]);
    await releaseDue();
    expect((await byId(get, 'GET', task.id)).body.status).toBe('CANCELLED');
    expect(await messagesOf(task.id)).toBe(0);
    expect(await eventsOf(task.id)).toEqual([
      [null, 'SCHEDULED', 'scheduled'],
      ['SCHEDULED', 'CANCELLED', 'cancelled by request'],
    ]);
  });

  it('releases a task only once due: SCHEDULED -> PENDING with its event, one message, no outbox row left', async () => {
    const { body: task } = await post({ title: 'soon', delay_ms: 400, priority: 'HIGH' });
    expect(task.status).toBe('SCHEDULED');
    expect(await releaseDueTasks(app.db.db, 100, 0)).toEqual([]);
    await new Promise((r) => setTimeout(r, 450));
    expect(await releaseDue()).toBeGreaterThanOrEqual(1);
    const got = (await byId(get, 'GET', task.id)).body;
    expect(got).toMatchObject({ status: 'PENDING', run_at: task.run_at });
    expect(await eventsOf(task.id)).toEqual([
      [null, 'SCHEDULED', 'scheduled'],
      ['SCHEDULED', 'PENDING', 'due'],
    ]);
    expect(await messagesOf(task.id)).toBe(1);
    const priority = await app.db.db.execute<{ p: number }>(
      sql`SELECT priority AS p FROM queue_messages WHERE body LIKE ${`%${task.id}%`}`,
    );
    expect(priority.rows).toEqual([{ p: 9 }]);
    await expect.poll(() => outboxOf(task.id), { timeout: 2_000 }).toBe(0);
  });

  it('releases each due task exactly once with several releasers at once', async () => {
    const created = await Promise.all(Array.from({ length: 60 }, (_, i) => post({ title: `many ${i}`, delay_ms: 3_600_000 })));
    const ids = created.map((r) => r.body.id as string);
    await makeDue(ids);
    const counts = await Promise.all([releaseDue(), releaseDue(), releaseDue(), releaseDue()]);
    expect(counts.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(60);
    const r = await app.db.db.execute<{ id: string; n: string; status: string }>(sql`
      SELECT t.id, t.status, (SELECT count(*) FROM queue_messages m WHERE m.body LIKE '%' || t.id::text || '%') AS n
      FROM tasks t WHERE t.id = ANY(${uuids(ids)})`);
    expect(r.rows.filter((row) => row.status !== 'PENDING' || Number(row.n) !== 1)).toEqual([]);
    const released = await app.db.db.execute<{ n: string }>(
      sql`SELECT count(*) AS n FROM task_events WHERE task_id = ANY(${uuids(ids)}) AND to_status = 'PENDING'`,
    );
    expect(Number(released.rows[0]?.n)).toBe(60);
  });

  it('the release loop wakes for the next task rather than sleeping its whole cadence', async () => {
    const { body: task } = await post({ title: 'precise', delay_ms: 700 });
    // A cadence far longer than the delay: only the wake-up at the task's time can release it in time.
    const loop = new AbortController();
    const running = runReleaseLoop({ everyMs: 5_000, signal: loop.signal });
    await expect.poll(async () => (await byId(get, 'GET', task.id)).body.status, { timeout: 3_000, interval: 50 }).toBe('PENDING');
    loop.abort();
    await running;
    const r = await app.db.db.execute<{ late_ms: number }>(sql`
      SELECT EXTRACT(EPOCH FROM e.at - t.run_at) * 1000 AS late_ms FROM task_events e JOIN tasks t ON t.id = e.task_id
      WHERE e.task_id = ${task.id} AND e.to_status = 'PENDING'`);
    const late = Number(r.rows[0]?.late_ms);
    expect(late).toBeGreaterThanOrEqual(0);
    // A loop that slept its cadence would release it some 4.3 s late; the bound leaves room for a stalled moment.
    expect(late).toBeLessThan(1_000);
  });

  it('the dispatcher function (the cloud schedule) releases on its own fine cadence between maintenance rounds', async () => {
    const { body: task } = await post({ title: 'cloud', delay_ms: 1_200 });
    // Maintenance rounds at 0 and 2 s only: a release at the task's time comes from the releaser's cadence.
    await dispatcher({ repeat_for_ms: 2_500, every_ms: 2_000 }, fakeContext('dispatcher'));
    const r = await app.db.db.execute<{ late_ms: number }>(sql`
      SELECT EXTRACT(EPOCH FROM e.at - t.run_at) * 1000 AS late_ms FROM task_events e JOIN tasks t ON t.id = e.task_id
      WHERE e.task_id = ${task.id} AND e.to_status = 'PENDING'`);
    const late = Number(r.rows[0]?.late_ms);
    expect(late).toBeGreaterThanOrEqual(0);
    expect(late).toBeLessThan(500);
  });

  it('the maintenance releases due tasks too', async () => {
    const { body: task } = await post({ title: 'by maintenance', delay_ms: 3_600_000 });
    await makeDue([task.id]);
    await runMaintenance();
    expect((await byId(get, 'GET', task.id)).body.status).toBe('PENDING');
  });

  it('the release probe uses the partial index on run_at', async () => {
    const plan = await app.db.db.transaction(async (tx) => {
      await tx.execute(sql`SET LOCAL enable_seqscan = off`);
      return tx.execute<{ 'QUERY PLAN': string }>(sql`EXPLAIN SELECT id FROM tasks
        WHERE status = ANY(ARRAY['SCHEDULED']::task_status[]) AND run_at IS NOT NULL AND started_at IS NULL AND finished_at IS NULL
          AND run_at <= now() ORDER BY run_at LIMIT 500`);
    });
    expect(plan.rows.map((r) => r['QUERY PLAN']).join('\n')).toContain('tasks_scheduled_run_at_idx');
  });

  it('creates scheduled tasks from task_intake; a repeat of a delayed create with its key is the same task', async () => {
    const key = `sched-${Date.now()}`;
    const body = JSON.stringify({ title: 'from the queue', delay_ms: 3_600_000, idempotency_key: key });
    expect(await processIntakeMessage(body)).toBe('done');
    expect(await processIntakeMessage(body)).toBe('done');
    const rows = await app.db.db.execute<{ status: string; run_at: string }>(
      sql`SELECT status, run_at FROM tasks WHERE idempotency_key = ${key}`,
    );
    expect(rows.rows).toEqual([{ status: 'SCHEDULED', run_at: expect.any(String) }]);

    const first = await post({ title: 'http delayed', delay_ms: 3_600_000 }, { 'idempotency-key': `${key}-http` });
    const again = await post({ title: 'http delayed', delay_ms: 3_600_000 }, { 'idempotency-key': `${key}-http` });
    expect(again.statusCode).toBe(200);
    expect(again.body.id).toBe(first.body.id);
    const other = await post({ title: 'http delayed', delay_ms: 60_000 }, { 'idempotency-key': `${key}-http` });
    expect(other.statusCode).toBe(422);
    const invalid = JSON.stringify({ title: 'both', delay_ms: 1, run_at: new Date().toISOString() });
    expect(await processIntakeMessage(invalid)).toBe('done');
    const dead = await app.db.db.execute<{ body: string }>(sql`SELECT body FROM dead_letters WHERE queue = 'task_intake'`);
    expect(dead.rows.some((r) => r.body.includes('both'))).toBe(true);
  });

  it('holds only moves of the state machine', async () => {
    await expectOnlyAllowedMoves(app.db);
  });
});
