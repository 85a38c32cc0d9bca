import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { transition } from '#lib/db/tasks';
import { MOVES } from '#lib/model';
import { runMaintenance } from '#lib/tasks/dispatcher';
import { publishAfterCommit, selfPublishMs } from '#lib/tasks/outbox';
import { handler as health } from '../../functions/health';
import { handler as batch } from '../../functions/tasks-batch';
import { handler as cancel } from '../../functions/tasks-cancel';
import { handler as create } from '../../functions/tasks-create';
import { handler as events } from '../../functions/tasks-events';
import { handler as get } from '../../functions/tasks-get';
import { handler as list } from '../../functions/tasks-list';
import { handler as retry } from '../../functions/tasks-retry';
import { handler as status } from '../../functions/tasks-status';
import { handler as update } from '../../functions/tasks-update';
import { useTestApp } from '../helpers/app';
import { httpEvent, invoke } from '../helpers/lambda';
import { expectOnlyAllowedMoves } from '../helpers/moves';

const app = useTestApp();

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const post = (body: object, headers?: Record<string, string>) =>
  invoke(create, httpEvent({ method: 'POST', path: '/api/v1/tasks', body, headers }));
const byId = (handler: Parameters<typeof invoke>[0], method: string, id: string, suffix = '', body?: object) =>
  invoke(handler, httpEvent({ method, path: `/api/v1/tasks/${id}${suffix}`, pathParameters: { id }, body }));
const query = (q: Record<string, string>) => invoke(list, httpEvent({ method: 'GET', path: '/api/v1/tasks', query: q }));

async function queuedMessages(): Promise<number> {
  const r = await app.db.db.execute<{ n: string }>(sql`SELECT count(*) AS n FROM queue_messages WHERE queue LIKE '%tasks'`);
  return Number(r.rows[0]?.n);
}

describe('tasks API on PostgreSQL', () => {
  it('creates a task: 201, Location, PENDING, the whole task, a queue message', async () => {
    const before = await queuedMessages();
    const res = await post({ title: '  Resize images  ', description: 'all of them', priority: 'HIGH', payload: { duration_ms: 0 } });
    expect(res.statusCode).toBe(201);
    expect(res.headers.location).toBe(`/api/v1/tasks/${res.body.id}`);
    expect(res.body).toEqual({
      id: expect.stringMatching(UUID),
      type: 'emulate',
      title: 'Resize images',
      description: 'all of them',
      priority: 'HIGH',
      payload: { duration_ms: 0 },
      status: 'PENDING',
      result: null,
      error: null,
      attempts: 0,
      max_attempts: 1,
      timeout_ms: null,
      progress: null,
      created_at: expect.stringMatching(ISO),
      updated_at: expect.stringMatching(ISO),
      started_at: null,
      finished_at: null,
      schedule_id: null,
      run_at: null,
      callback_url: null,
    });
    expect(await queuedMessages()).toBe(before + 1);
    // The published message's outbox row is deleted after the answer, in a statement of its own.
    await expect.poll(async () => (await app.db.db.execute(sql`SELECT * FROM outbox`)).rows, { timeout: 2_000 }).toEqual([]);

    const got = await byId(get, 'GET', res.body.id);
    expect(got).toMatchObject({ statusCode: 200, body: res.body });
    expect((await byId(status, 'GET', res.body.id, '/status')).body).toEqual({ task_id: res.body.id, status: 'PENDING' });
    expect((await byId(events, 'GET', res.body.id, '/events')).body).toEqual({
      items: [
        { from_status: null, to_status: 'NEW', at: expect.stringMatching(ISO), reason: 'created', attempt: null, error: null },
        { from_status: 'NEW', to_status: 'PENDING', at: expect.stringMatching(ISO), reason: 'queued', attempt: null, error: null },
      ],
    });
  });

  it('applies defaults and type-specific payload defaults', async () => {
    const res = await post({ title: 'hash it', type: 'checksum', payload: { text: 'abc' }, max_attempts: 3 });
    expect(res.statusCode).toBe(201);
    expect(res.body).toMatchObject({
      type: 'checksum',
      priority: 'MEDIUM',
      max_attempts: 3,
      payload: { text: 'abc', algorithm: 'sha256', rounds: 1 },
    });
  });

  it('404 with "Task not found" for an unknown id on every route', async () => {
    const id = '6f1c1b8e-0000-4000-8000-000000000000';
    for (const [h, m, s, b] of [
      [get, 'GET', ''],
      [status, 'GET', '/status'],
      [events, 'GET', '/events'],
      [cancel, 'DELETE', ''],
      [retry, 'POST', '/retry'],
      [update, 'PATCH', '', { title: 'x' }],
    ] as const) {
      const res = await byId(h, m, id, s, b as object | undefined);
      expect(res.statusCode, `${m} ${s}`).toBe(404);
      expect(res.body.detail).toBe('Task not found');
    }
  });

  it('honours Idempotency-Key: same body returns the first task with 200, another body is 422', async () => {
    const key = `key-${Date.now()}`;
    const first = await post({ title: 'once', payload: { duration_ms: 1 } }, { 'idempotency-key': key });
    const again = await post({ payload: { duration_ms: 1 }, title: 'once' }, { 'idempotency-key': key });
    expect(first.statusCode).toBe(201);
    expect(again.statusCode).toBe(200);
    expect(again.body).toEqual(first.body);
    const other = await post({ title: 'twice' }, { 'idempotency-key': key });
    expect(other.statusCode).toBe(422);
    expect(other.body.errors).toEqual([{ path: 'Idempotency-Key', message: 'this key was already used with a different request body' }]);
    const n = await app.db.db.execute<{ n: string }>(sql`SELECT count(*) AS n FROM tasks WHERE idempotency_key = ${key}`);
    expect(Number(n.rows[0]?.n)).toBe(1);
  });

  it('takes a repeat that spells out the defaults for the same Idempotency-Key request (200, the first task)', async () => {
    const key = `defaults-${Date.now()}`;
    const first = await post({ title: 'defaults' }, { 'idempotency-key': key });
    const explicit = { title: 'defaults', type: 'emulate', priority: 'MEDIUM', description: null, payload: {}, max_attempts: 1 };
    const again = await post(explicit, { 'idempotency-key': key });
    expect(first.statusCode).toBe(201);
    expect(again.statusCode).toBe(200);
    expect(again.body).toEqual(first.body);
    // A value that is stored differently is still another request.
    const other = await post({ ...explicit, max_attempts: 2 }, { 'idempotency-key': key });
    expect(other.statusCode).toBe(422);
  });

  it('parallel creates with one Idempotency-Key make one task', async () => {
    const key = `race-${Date.now()}`;
    const results = await Promise.all(Array.from({ length: 10 }, () => post({ title: 'race' }, { 'idempotency-key': key })));
    expect(results.map((r) => r.statusCode).sort()).toEqual([200, 200, 200, 200, 200, 200, 200, 200, 200, 201]);
    expect(new Set(results.map((r) => r.body.id)).size).toBe(1);
  });

  it('60 parallel creates (served in shared statements): 60 tasks, each with its events, one message each, no outbox left', async () => {
    const before = await queuedMessages();
    const priorities = ['LOW', 'MEDIUM', 'HIGH'] as const;
    const results = await Promise.all(
      Array.from({ length: 60 }, (_, i) => post({ title: `parallel ${i}`, priority: priorities[i % 3], payload: { duration_ms: i } })),
    );
    expect(results.every((r) => r.statusCode === 201)).toBe(true);
    // Each caller gets its own task back, not a neighbour's from the same statement.
    results.forEach((r, i) => {
      expect(r.body).toMatchObject({ title: `parallel ${i}`, priority: priorities[i % 3], payload: { duration_ms: i }, status: 'PENDING' });
    });
    const ids = results.map((r) => r.body.id as string);
    expect(new Set(ids).size).toBe(60);
    const events = await app.db.db.execute<{ task_id: string; statuses: string[] }>(
      sql`SELECT task_id, array_agg(to_status::text ORDER BY id) AS statuses FROM task_events
          WHERE task_id = ANY(${sql.param(ids)}::uuid[]) GROUP BY task_id`,
    );
    expect(events.rows).toHaveLength(60);
    for (const row of events.rows) expect(row.statuses).toEqual(['NEW', 'PENDING']);
    expect((await queuedMessages()) - before).toBe(60);
    const outboxLeft = async () =>
      Number(
        (
          await app.db.db.execute<{ n: string }>(
            sql`SELECT count(*) AS n FROM outbox WHERE (body->>'task_id')::uuid = ANY(${sql.param(ids)}::uuid[])`,
          )
        ).rows[0]?.n,
      );
    await expect.poll(outboxLeft, { timeout: 2_000 }).toBe(0);
  });

  it('answers without waiting for the outbox delete; a delayed message keeps its delay in the outbox; a failed delete leaves the row for the dispatcher', async () => {
    const outboxRows = async (id: string) =>
      Number((await app.db.db.execute<{ n: string }>(sql`SELECT count(*) AS n FROM outbox WHERE body->>'task_id' = ${id}`)).rows[0]?.n);
    // Counts the deletes tried: a sequence keeps its value when the deleting transaction rolls back.
    await app.db.db.execute(sql.raw('CREATE SEQUENCE IF NOT EXISTS outbox_delete_tries'));
    const tries = async () =>
      Number(
        (
          await app.db.db.execute<{ n: string }>(
            sql.raw('SELECT CASE WHEN is_called THEN last_value ELSE 0 END AS n FROM outbox_delete_tries'),
          )
        ).rows[0]?.n,
      );
    const trigger = async (body: string) => {
      await app.db.db.execute(
        sql.raw(
          `CREATE OR REPLACE FUNCTION outbox_delete_hook() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM nextval('outbox_delete_tries'); ${body} END $$`,
        ),
      );
      await app.db.db.execute(
        sql.raw('CREATE OR REPLACE TRIGGER outbox_delete_hook BEFORE DELETE ON outbox FOR EACH ROW EXECUTE FUNCTION outbox_delete_hook()'),
      );
    };
    try {
      // A slow delete does not hold up a create's answer...
      await trigger('PERFORM pg_sleep(3); RETURN OLD;');
      let started = Date.now();
      const slow = await post({ title: 'slow delete' });
      expect(slow.statusCode).toBe(201);
      expect(Date.now() - started).toBeLessThan(2_000);
      expect(await outboxRows(slow.body.id)).toBe(1);
      await expect.poll(() => outboxRows(slow.body.id), { timeout: 10_000 }).toBe(0);

      // ...nor that of a delayed message (a retry after a backoff), whose outbox row keeps the delay: a row left
      // behind is not published before the message is due.
      const id = slow.body.id as string;
      await byId(cancel, 'DELETE', id);
      const requeued = await transition(app.db.db, {
        id,
        move: MOVES.retry,
        reason: 'test',
        enqueue: { availableInMs: selfPublishMs(60_000) },
      });
      started = Date.now();
      const queuedBefore = await queuedMessages();
      await publishAfterCommit(requeued as NonNullable<typeof requeued>, 60_000);
      expect(Date.now() - started).toBeLessThan(2_000);
      expect(await queuedMessages()).toBe(queuedBefore + 1);
      expect(await runMaintenance()).toBe(0);
      expect(await queuedMessages()).toBe(queuedBefore + 1);
      await expect.poll(() => outboxRows(id), { timeout: 10_000 }).toBe(0);

      // A failing delete does not fail the create; the row stays, and the dispatcher publishes the message again.
      await trigger("RAISE EXCEPTION 'no deletes today';");
      const before = await queuedMessages();
      const triedBefore = await tries();
      const failed = await post({ title: 'failed delete' });
      expect(failed.statusCode).toBe(201);
      expect(failed.body.status).toBe('PENDING');
      await expect.poll(tries, { timeout: 10_000 }).toBeGreaterThan(triedBefore);
      expect(await outboxRows(failed.body.id)).toBe(1);
      expect(await queuedMessages()).toBe(before + 1);
      await app.db.db.execute(sql.raw('DROP TRIGGER outbox_delete_hook ON outbox'));
      await app.db.db.execute(sql`UPDATE outbox SET available_at = now() WHERE body->>'task_id' = ${failed.body.id}`);
      expect(await runMaintenance()).toBe(1);
      expect(await queuedMessages()).toBe(before + 2);
      expect(await outboxRows(failed.body.id)).toBe(0);
    } finally {
      await app.db.db.execute(sql.raw('DROP TRIGGER IF EXISTS outbox_delete_hook ON outbox'));
    }
  });

  it('gives new tasks time-ordered ids (UUID version 7): a later task, alone or in a batch, sorts after an earlier one', async () => {
    const ids: string[] = [];
    // Within a millisecond too: one process's ids never go backwards (the uuid package counts within a millisecond).
    for (let i = 0; i < 3; i++) ids.push((await post({ title: `ordered ${i}` })).body.id);
    const batched = await invoke(
      batch,
      httpEvent({ method: 'POST', path: '/api/v1/tasks/batch', body: { tasks: [{ title: 'ordered 3' }, { title: 'ordered 4' }] } }),
    );
    expect(batched.statusCode).toBe(201);
    ids.push(...batched.body.items.map((t: { id: string }) => t.id));
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(new Set(ids).size).toBe(5);
    // PostgreSQL compares UUIDs byte by byte: the order of the index on them.
    const sorted = await app.db.db.execute<{ id: string }>(sql`SELECT id::text FROM unnest(${sql.param(ids)}::uuid[]) AS id ORDER BY id`);
    expect(sorted.rows.map((r) => r.id)).toEqual(ids);
  });

  it('frees an idempotency key after 24 hours', async () => {
    const key = `old-${Date.now()}`;
    const first = await post({ title: 'old' }, { 'idempotency-key': key });
    await app.db.db.execute(sql`UPDATE tasks SET created_at = now() - interval '25 hours' WHERE id = ${first.body.id}`);
    const second = await post({ title: 'old' }, { 'idempotency-key': key });
    expect(second.statusCode).toBe(201);
    expect(second.body.id).not.toBe(first.body.id);
  });

  it('cancels a waiting task once; 20 parallel cancels give one 200 and nineteen 409', async () => {
    const { body: task } = await post({ title: 'to cancel' });
    const results = await Promise.all(Array.from({ length: 20 }, () => byId(cancel, 'DELETE', task.id)));
    const codes = results.map((r) => r.statusCode);
    expect(codes.filter((c) => c === 200)).toHaveLength(1);
    expect(codes.filter((c) => c === 409)).toHaveLength(19);
    const won = results.find((r) => r.statusCode === 200)!;
    expect(won.body).toMatchObject({ id: task.id, status: 'CANCELLED', finished_at: expect.stringMatching(ISO) });
    const lost = results.find((r) => r.statusCode === 409)!;
    expect(lost.body.detail).toBe('Cannot cancel a task that is CANCELLED; only SCHEDULED, NEW, PENDING, IN_PROGRESS tasks can be');
    const history = (await byId(events, 'GET', task.id, '/events')).body.items;
    expect(history.map((e: { to_status: string }) => e.to_status)).toEqual(['NEW', 'PENDING', 'CANCELLED']);
  });

  it('retries a cancelled or failed task and refuses others with 409', async () => {
    const { body: task } = await post({ title: 'to retry' });
    expect((await byId(retry, 'POST', task.id, '/retry')).statusCode).toBe(409);
    await byId(cancel, 'DELETE', task.id);
    const res = await byId(retry, 'POST', task.id, '/retry');
    expect(res.statusCode).toBe(200);
    expect(res.body).toMatchObject({ status: 'PENDING', error: null, result: null, finished_at: null, attempts: 0 });

    await app.db.db.execute(
      sql`UPDATE tasks SET status = 'FAILED', error = 'boom', attempts = 1, finished_at = now() WHERE id = ${task.id}`,
    );
    const again = await byId(retry, 'POST', task.id, '/retry');
    expect(again.body).toMatchObject({ status: 'PENDING', error: null, attempts: 0, finished_at: null });
    const history = (await byId(events, 'GET', task.id, '/events')).body.items;
    expect(history.map((e: { from_status: string; to_status: string }) => `${e.from_status}->${e.to_status}`)).toEqual([
      'null->NEW',
      'NEW->PENDING',
      'PENDING->CANCELLED',
      'CANCELLED->PENDING',
      'FAILED->PENDING',
    ]);
  });

  it('updates a waiting task, validating the payload against its type, and refuses a finished one', async () => {
    const { body: task } = await post({ title: 'edit me', priority: 'LOW' });
    const res = await byId(update, 'PATCH', task.id, '', {
      title: 'edited',
      priority: 'HIGH',
      description: null,
      payload: { duration_ms: 5 },
    });
    expect(res.statusCode).toBe(200);
    expect(res.body).toMatchObject({
      title: 'edited',
      priority: 'HIGH',
      description: null,
      payload: { duration_ms: 5 },
      status: 'PENDING',
    });
    const bad = await byId(update, 'PATCH', task.id, '', { payload: { duration_ms: -1 } });
    expect(bad.statusCode).toBe(422);
    expect(bad.body.errors[0].path).toBe('payload.duration_ms');
    expect((await byId(update, 'PATCH', task.id, '', {})).statusCode).toBe(422);
    await byId(cancel, 'DELETE', task.id);
    const late = await byId(update, 'PATCH', task.id, '', { title: 'too late' });
    expect(late.statusCode).toBe(409);
  });

  it('re-queues a PENDING task whose priority changes', async () => {
    const { body: task } = await post({ title: 'bump', priority: 'LOW' });
    const before = await app.db.db.execute<{ p: number }>(sql`SELECT priority AS p FROM queue_messages WHERE body LIKE ${`%${task.id}%`}`);
    await byId(update, 'PATCH', task.id, '', { priority: 'HIGH' });
    const after = await app.db.db.execute<{ p: number }>(
      sql`SELECT priority AS p FROM queue_messages WHERE body LIKE ${`%${task.id}%`} ORDER BY id`,
    );
    expect(before.rows.map((r) => r.p)).toEqual([1]);
    expect(after.rows.map((r) => r.p)).toEqual([1, 9]);
  });
});

describe('listing tasks', () => {
  it('filters, searches, pages and counts, newest first', async () => {
    const tag = `L${Date.now()}`;
    const made: string[] = [];
    for (const [i, p] of (['LOW', 'MEDIUM', 'HIGH', 'HIGH', 'LOW'] as const).entries()) {
      const r = await post({ title: `${tag} item ${i}`, priority: p, description: i === 3 ? '100% Done_here' : null });
      made.push(r.body.id);
    }
    await byId(cancel, 'DELETE', made[0]!);

    const all = await query({ search: tag, limit: '2' });
    expect(all.statusCode).toBe(200);
    expect(all.body).toMatchObject({ total: 5, limit: 2, offset: 0 });
    expect(all.body.items.map((t: { id: string }) => t.id)).toEqual([made[4], made[3]]);
    const page2 = await query({ search: tag, limit: '2', offset: '2' });
    expect(page2.body.items.map((t: { id: string }) => t.id)).toEqual([made[2], made[1]]);

    expect((await query({ search: tag.toLowerCase(), priority: 'HIGH' })).body.total).toBe(2);
    expect((await query({ search: tag, status: 'CANCELLED' })).body.items.map((t: { id: string }) => t.id)).toEqual([made[0]]);
    expect((await query({ search: tag, status: 'PENDING,CANCELLED' })).body.total).toBe(5);
    expect((await query({ search: tag, type: 'checksum' })).body.total).toBe(0);
    expect((await query({ search: '100% done_' })).body.items.map((t: { id: string }) => t.id)).toEqual([made[3]]);
    expect((await query({ search: '%' })).body.total).toBe(1);

    const created = (await byId(get, 'GET', made[2]!)).body.created_at as string;
    const from = await query({ search: tag, created_from: created });
    expect(from.body.items.map((t: { id: string }) => t.id)).toEqual([made[4], made[3], made[2]]);
    const to = await query({ search: tag, created_to: created });
    expect(to.body.items.map((t: { id: string }) => t.id)).toEqual([made[1], made[0]]);
  });

  it('treats SQL in a search as text', async () => {
    const res = await query({ search: "'; DROP TABLE tasks; --" });
    expect(res.statusCode).toBe(200);
    expect(res.body.total).toBe(0);
  });
});

describe('health', () => {
  it('reports the database and the queue', async () => {
    const res = await invoke(health, httpEvent({ method: 'GET', path: '/health' }));
    expect(res).toMatchObject({ statusCode: 200, body: { status: 'ok', checks: { database: 'ok', queue: 'ok' } } });
  });
});

describe('the history', () => {
  it('holds only moves of the state machine', async () => {
    await expectOnlyAllowedMoves(app.db);
  });
});
