import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { createTasks } from '#lib/tasks/commands';
import { InvalidInputError } from '#lib/tasks/errors';
import { getTask, getTaskStatus } from '#lib/tasks/queries';
import { handler as batch } from '../../functions/tasks-batch';
import { handler as cancel } from '../../functions/tasks-cancel';
import { handler as create } from '../../functions/tasks-create';
import { handler as get } from '../../functions/tasks-get';
import { handler as status } from '../../functions/tasks-status';
import { useTestApp } from '../helpers/app';
import { httpEvent, invoke } from '../helpers/lambda';
import { expectOnlyAllowedMoves } from '../helpers/moves';

const app = useTestApp();

const postBatch = (body: unknown) => invoke(batch, httpEvent({ method: 'POST', path: '/api/v1/tasks/batch', body: body as object }));
const post = (body: object) => invoke(create, httpEvent({ method: 'POST', path: '/api/v1/tasks', body }));
const byId = (handler: Parameters<typeof invoke>[0], method: string, id: string, suffix = '', query?: Record<string, string>) =>
  invoke(handler, httpEvent({ method, path: `/api/v1/tasks/${id}${suffix}`, pathParameters: { id }, query }));

async function taskCount(): Promise<number> {
  const r = await app.db.db.execute<{ n: string }>(sql`SELECT count(*) AS n FROM tasks`);
  return Number(r.rows[0]?.n);
}
async function messagesOf(ids: string[]): Promise<number> {
  const r = await app.db.db.execute<{ n: string }>(
    sql`SELECT count(*) AS n FROM queue_messages WHERE queue LIKE '%tasks' AND (body::jsonb->>'task_id') = ANY(${sql.param(ids)}::text[])`,
  );
  return Number(r.rows[0]?.n);
}

describe('POST /api/v1/tasks/batch', () => {
  it('creates every task in order (201), queued or scheduled, each with its message', async () => {
    const res = await postBatch({
      tasks: [
        { title: 'first', priority: 'HIGH' },
        { title: 'second', type: 'checksum', payload: { text: 'abc' } },
        { title: 'third', delay_ms: 3_600_000 },
      ],
    });
    expect(res.statusCode).toBe(201);
    expect(res.body.items.map((t: { title: string; status: string; type: string }) => [t.title, t.status, t.type])).toEqual([
      ['first', 'PENDING', 'emulate'],
      ['second', 'PENDING', 'checksum'],
      ['third', 'SCHEDULED', 'emulate'],
    ]);
    expect(res.body.items[1].payload).toMatchObject({ text: 'abc' });
    const ids = res.body.items.map((t: { id: string }) => t.id);
    expect(await messagesOf(ids)).toBe(2);
    for (const item of res.body.items) expect((await byId(get, 'GET', item.id)).body).toEqual(item);
  });

  it('creates nothing when one item is invalid: 422 naming the item', async () => {
    const before = await taskCount();
    const cases: Array<[unknown, string[]]> = [
      [{ tasks: [{ title: 'ok' }, { title: 'ok' }, { title: 'ok' }, { title: '  ' }] }, ['tasks.3.title']],
      [{ tasks: [{ title: 'ok' }, { title: 'bad type', type: 'nope' }] }, ['tasks.1.type']],
      [{ tasks: [{ title: 'bad payload', payload: { min_ms: -5 } }] }, ['tasks.0.payload.min_ms']],
      [
        { tasks: [{ title: 'a', type: 'nope' }, { title: 'ok' }, { title: 'b', payload: { min_ms: -5 } }] },
        ['tasks.0.type', 'tasks.2.payload.min_ms'],
      ],
      [{ tasks: [{ title: 'x', run_at: '2030-01-01T00:00:00Z', delay_ms: 5 }] }, ['tasks.0.delay_ms']],
      [{ tasks: [{ title: 'x', extra: 1 }] }, ['tasks.0']],
      [{ tasks: [] }, ['tasks']],
      [{ tasks: Array.from({ length: 101 }, (_, i) => ({ title: `t${i}` })) }, ['tasks']],
      [{}, ['tasks']],
    ];
    for (const [body, paths] of cases) {
      const res = await postBatch(body);
      expect(res.statusCode, JSON.stringify(body).slice(0, 100)).toBe(422);
      expect(res.body.errors.map((e: { path: string }) => e.path)).toEqual(paths);
    }
    expect(await taskCount()).toBe(before);
  });

  it('takes 100 tasks in one request', async () => {
    const res = await postBatch({ tasks: Array.from({ length: 100 }, (_, i) => ({ title: `bulk ${i}`, payload: { duration_ms: 0 } })) });
    expect(res.statusCode).toBe(201);
    expect(res.body.items.map((t: { title: string }) => t.title)).toEqual(Array.from({ length: 100 }, (_, i) => `bulk ${i}`));
    expect(await messagesOf(res.body.items.map((t: { id: string }) => t.id))).toBe(100);
  });

  it('413 for a batch over 256 KiB as a whole, creating nothing', async () => {
    const before = await taskCount();
    const res = await postBatch({ tasks: Array.from({ length: 100 }, (_, i) => ({ title: `big ${i}`, description: 'x'.repeat(2_700) })) });
    expect(res.statusCode).toBe(413);
    expect(await taskCount()).toBe(before);
  });

  it('honours idempotency keys per item: a repeat gives the first tasks, a changed body fails the whole batch', async () => {
    const key = `batch-${Date.now()}`;
    const body = { tasks: [{ title: 'keyed', idempotency_key: key }, { title: 'unkeyed' }] };
    const first = await postBatch(body);
    expect(first.statusCode).toBe(201);
    const before = await taskCount();
    const again = await postBatch(body);
    expect(again.statusCode).toBe(201);
    expect(again.body.items[0]).toEqual(first.body.items[0]);
    expect(again.body.items[1].id).not.toBe(first.body.items[1].id);
    expect(await taskCount()).toBe(before + 1);

    const changed = await postBatch({ tasks: [{ title: 'new one' }, { title: 'keyed but changed', idempotency_key: key }] });
    expect(changed.statusCode).toBe(422);
    expect(changed.body.errors).toEqual([
      { path: 'tasks.1.idempotency_key', message: 'this key was already used with a different request body' },
    ]);
    expect(await taskCount()).toBe(before + 1);

    // One key twice in a batch with the same body: one task, given for both items.
    const twice = await postBatch({
      tasks: [
        { title: 'dup', idempotency_key: `${key}-2` },
        { title: 'dup', idempotency_key: `${key}-2` },
      ],
    });
    expect(twice.statusCode).toBe(201);
    expect(twice.body.items[0].id).toBe(twice.body.items[1].id);
    const differ = await postBatch({
      tasks: [
        { title: 'a', idempotency_key: `${key}-3` },
        { title: 'b', idempotency_key: `${key}-3` },
      ],
    });
    expect(differ.statusCode).toBe(422);
    expect(differ.body.errors.map((e: { path: string }) => e.path)).toEqual(['tasks.1.idempotency_key']);
  });

  it('in the domain: all or nothing, errors naming the item', async () => {
    const before = await taskCount();
    await expect(
      createTasks([
        { title: 'fine', type: 'emulate', priority: 'LOW', payload: {} },
        { title: 'x', type: 'nope', priority: 'LOW', payload: {} },
      ]),
    ).rejects.toThrow(InvalidInputError);
    expect(await taskCount()).toBe(before);
    const tasks = await createTasks([{ title: 'one', type: 'emulate', priority: 'LOW', payload: {} }]);
    expect(tasks).toHaveLength(1);
  });
});

describe('?wait= on a task and its status', () => {
  it('422 for a wait that is not a whole number from 1 to 25', async () => {
    const { body: task } = await post({ title: 'waited for' });
    for (const wait of ['0', '26', 'abc', '1.5', '-1', '']) {
      for (const [handler, suffix] of [
        [get, ''],
        [status, '/status'],
      ] as const) {
        const res = await byId(handler, 'GET', task.id, suffix, { wait });
        expect(res.statusCode, `wait=${wait}${suffix}`).toBe(422);
        expect(res.body.errors.map((e: { path: string }) => e.path)).toEqual(['wait']);
      }
    }
  });

  it('answers at once for a finished task, and 404 for an unknown one', async () => {
    const { body: task } = await post({ title: 'done already' });
    await byId(cancel, 'DELETE', task.id);
    const started = Date.now();
    const res = await byId(get, 'GET', task.id, '', { wait: '10' });
    expect(res.statusCode).toBe(200);
    expect(res.body.status).toBe('CANCELLED');
    expect(Date.now() - started).toBeLessThan(500);
    expect((await byId(status, 'GET', '8f3c1a5e-0000-4000-8000-000000000000', '/status', { wait: '2' })).statusCode).toBe(404);
  });

  it('answers after N seconds with the task as it is then', async () => {
    const { body: task } = await post({ title: 'still waiting' });
    const started = Date.now();
    const res = await byId(status, 'GET', task.id, '/status', { wait: '1' });
    const took = Date.now() - started;
    expect(res).toMatchObject({ statusCode: 200, body: { task_id: task.id, status: 'PENDING' } });
    expect(took).toBeGreaterThanOrEqual(1_000);
    expect(took).toBeLessThan(1_500);
  });

  it('answers within a poll of the task ending (both routes, many waiters)', async () => {
    const { body: task } = await post({ title: 'ends soon' });
    const waiters = [
      ...Array.from({ length: 5 }, () => byId(get, 'GET', task.id, '', { wait: '10' })),
      ...Array.from({ length: 5 }, () => byId(status, 'GET', task.id, '/status', { wait: '10' })),
    ];
    await new Promise((r) => setTimeout(r, 400));
    const cancelled = await byId(cancel, 'DELETE', task.id);
    const endedAt = Date.now();
    const answers = await Promise.all(waiters.map(async (w) => ({ res: await w, at: Date.now() })));
    for (const { res, at } of answers) {
      expect(res.statusCode).toBe(200);
      expect(res.body.status).toBe('CANCELLED');
      // Within a poll (100 ms) and some slack for the shared machine: far from the 10 s a waiter would otherwise take.
      expect(at - endedAt).toBeLessThan(500);
    }
    expect(answers[0]?.res.body).toEqual(cancelled.body);
  });

  it('in the domain: getTask and getTaskStatus wait until terminal', async () => {
    const { body: task } = await post({ title: 'domain wait' });
    const waiting = Promise.all([getTask(task.id, 5), getTaskStatus(task.id, 5)]);
    await new Promise((r) => setTimeout(r, 200));
    await byId(cancel, 'DELETE', task.id);
    const [full, short] = await waiting;
    expect(full.status).toBe('CANCELLED');
    expect(short).toEqual({ task_id: task.id, status: 'CANCELLED' });
  });

  it('holds only moves of the state machine', async () => {
    await expectOnlyAllowedMoves(app.db);
  });
});
