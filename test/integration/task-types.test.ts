import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb } from '#lib/db/client';
import { claimGatedTasks } from '#lib/db/task-types';
import { claimTasks } from '#lib/db/tasks';
import { queue } from '#lib/queue/client';
import { toSqsEvent } from '#lib/queue/events';
import type { Consumer } from '#lib/queue/types';
import { createTask } from '#lib/tasks/commands';
import { runMaintenance } from '#lib/tasks/dispatcher';
import { handler as processor } from '../../functions/processor';
import { handler as listTypes } from '../../functions/task-types';
import { handler as updateType } from '../../functions/task-types-update';
import { useTestApp } from '../helpers/app';
import { fakeContext, httpEvent, invoke } from '../helpers/lambda';

const app = useTestApp({ CANCEL_CHECK_MS: '100' });

const patch = (name: string, body: object) =>
  invoke(updateType, httpEvent({ method: 'PATCH', path: `/api/v1/task-types/${name}`, pathParameters: { name }, body }));
const types = async () =>
  (await invoke(listTypes, httpEvent({ method: 'GET', path: '/api/v1/task-types' }))).body.items as Array<{
    name: string;
    paused: boolean;
    concurrency: number | null;
    running: number;
  }>;
const emulateType = async () => (await types()).find((t) => t.name === 'emulate');
const newTask = async (durationMs: number, priority: 'LOW' | 'MEDIUM' | 'HIGH' = 'MEDIUM') =>
  (await createTask({ type: 'emulate', title: 't', priority, payload: { duration_ms: durationMs, failure_rate: 0 } })).task;
const rows = async (ids: string[]) =>
  (
    await app.db.db.execute<{ id: string; status: string; started_at: Date | null; held_at: Date | null }>(
      sql`SELECT id, status, started_at, held_at FROM tasks WHERE id = ANY(${`{${ids.join(',')}}`}::uuid[])`,
    )
  ).rows;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`not within ${timeoutMs} ms`);
    await sleep(25);
  }
}

// The local stand-in for the event source mapping: the processor function gets each message of the tasks queue.
let consumer: Consumer;
beforeAll(async () => {
  consumer = await queue().consume(
    'tasks',
    async (msgs) => {
      const res = await processor(toSqsEvent('tasks', msgs), fakeContext('processor'));
      return { failedIds: res.batchItemFailures.map((f) => f.itemIdentifier) };
    },
    { slots: 16, batchSize: 1 },
  );
});
afterAll(async () => {
  await consumer?.stop();
});

describe('PATCH /api/v1/task-types/{name}', () => {
  it('answers the type with its settings, and refuses what is not valid', async () => {
    expect(await emulateType()).toMatchObject({ paused: false, concurrency: null, running: 0 });
    const limited = await patch('emulate', { concurrency: 3 });
    expect(limited.statusCode).toBe(200);
    expect(limited.body).toMatchObject({ name: 'emulate', paused: false, concurrency: 3, running: 0 });
    // Fields left out keep their value; null removes the limit.
    expect((await patch('emulate', { paused: false })).body).toMatchObject({ concurrency: 3 });
    expect((await patch('emulate', { concurrency: null })).body).toMatchObject({ concurrency: null, paused: false });

    const missing = await patch('nope', { paused: true });
    expect(missing.statusCode).toBe(404);
    expect(missing.body).toMatchObject({ status: 404, detail: 'Task type not found' });
    for (const [body, path] of [
      [{ concurrency: 0 }, 'concurrency'],
      [{ concurrency: 1.5 }, 'concurrency'],
      [{ paused: 'yes' }, 'paused'],
      [{ colour: 'red' }, ''],
    ] as const) {
      const res = await patch('emulate', body);
      expect(res.statusCode, JSON.stringify(body)).toBe(422);
      if (path) expect(res.body.errors.map((e: { path: string }) => e.path)).toContain(path);
    }
  });
});

describe('a paused type', () => {
  it('starts no run while paused; its tasks wait in PENDING and run once it is resumed, highest priority first', async () => {
    expect((await patch('emulate', { paused: true })).body.paused).toBe(true);
    const tasks = [await newTask(20, 'LOW'), await newTask(20, 'HIGH'), await newTask(20, 'MEDIUM')];
    const ids = tasks.map((t) => t.id);
    // Their messages are taken and acknowledged; the tasks are held, not started.
    await until(async () => (await rows(ids)).every((r) => r.held_at !== null), 5_000);
    await sleep(300);
    for (const r of await rows(ids)) expect(r).toMatchObject({ status: 'PENDING', started_at: null });
    // (The embedded queue deletes acknowledged messages with its next claim, within its poll interval.)
    const waiting = async () =>
      (await app.db.db.execute<{ n: number }>(sql`SELECT count(*)::int AS n FROM queue_messages WHERE queue = 'tasks'`)).rows[0]?.n;
    await until(async () => (await waiting()) === 0, 5_000);

    // Resumed with room for one at a time: they go in priority order.
    await patch('emulate', { paused: false, concurrency: 1 });
    await until(async () => (await rows(ids)).every((r) => r.status === 'COMPLETED'), 10_000);
    const started = (await rows(ids)).sort((a, b) => Number(a.started_at) - Number(b.started_at)).map((r) => r.id);
    expect(started).toEqual([tasks[1]?.id, tasks[2]?.id, tasks[0]?.id]);
    for (const r of await rows(ids)) expect(r.held_at).toBeNull();
    await patch('emulate', { concurrency: null });
  });
});

describe('a concurrency limit', () => {
  it('keeps at most that many runs at once while a backlog drains, and runs every task', async () => {
    await patch('emulate', { concurrency: 2 });
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) ids.push((await newTask(250)).id);
    let most = 0;
    let done = false;
    const sampling = (async () => {
      while (!done) {
        const r = await app.db.db.execute<{ n: number }>(
          sql`SELECT count(*)::int AS n FROM tasks WHERE type = 'emulate' AND status = 'IN_PROGRESS'`,
        );
        most = Math.max(most, r.rows[0]?.n ?? 0);
        await sleep(10);
      }
    })();
    await until(async () => (await rows(ids)).every((r) => r.status === 'COMPLETED'), 20_000);
    done = true;
    await sampling;
    expect(most).toBe(2);
    // The history agrees: no moment with three runs in progress.
    const runs = await app.db.db.execute<{ started: string; finished: string }>(sql`
      SELECT min(at) FILTER (WHERE to_status = 'IN_PROGRESS') AS started, max(at) FILTER (WHERE to_status = 'COMPLETED') AS finished
      FROM task_events WHERE task_id = ANY(${`{${ids.join(',')}}`}::uuid[]) GROUP BY task_id`);
    const moments = runs.rows.flatMap((r) => [
      { at: Date.parse(r.started), d: 1 },
      { at: Date.parse(r.finished), d: -1 },
    ]);
    moments.sort((a, b) => a.at - b.at || a.d - b.d);
    let now = 0;
    let peak = 0;
    for (const m of moments) {
      now += m.d;
      peak = Math.max(peak, now);
    }
    expect(peak).toBeLessThanOrEqual(2);
    await patch('emulate', { concurrency: null });
  });

  it('holds across processes: claimers on separate connection pools together start no more than the limit', async () => {
    await consumer.stop();
    try {
      const pools = Array.from({ length: 4 }, () => createDb(app.db.url, 2));
      try {
        for (let round = 0; round < 5; round++) {
          const ids: string[] = [];
          for (let i = 0; i < 20; i++) ids.push((await newTask(0)).id);
          await patch('emulate', { concurrency: 3 });
          // Each "process" claims its own five messages at the same moment.
          const results = await Promise.all(
            pools.map(async ({ db }, i) => {
              const mine = ids.slice(i * 5, i * 5 + 5);
              const first = await claimTasks(db, mine);
              expect(first.claimed).toEqual([]);
              return claimGatedTasks(db, first.gated);
            }),
          );
          const claimed = results.flatMap((r) => r.claimed.map((t) => t.id));
          expect(claimed).toHaveLength(3);
          expect(results.flatMap((r) => r.held)).toHaveLength(17);
          // Clean up the round: the running ones are done, the held ones cancelled, no limit.
          await app.db.db.execute(
            sql`UPDATE tasks SET status = 'COMPLETED', finished_at = now() WHERE id = ANY(${`{${ids.join(',')}}`}::uuid[])`,
          );
          await patch('emulate', { concurrency: null });
        }
      } finally {
        await Promise.all(pools.map((p) => p.pool.end()));
      }
    } finally {
      consumer = await queue().consume(
        'tasks',
        async (msgs) => {
          const res = await processor(toSqsEvent('tasks', msgs), fakeContext('processor'));
          return { failedIds: res.batchItemFailures.map((f) => f.itemIdentifier) };
        },
        { slots: 16, batchSize: 1 },
      );
    }
  });

  it('lets a held task go from the maintenance when its type has room that no run freed', async () => {
    await consumer.stop();
    await patch('emulate', { paused: true });
    const task = await newTask(0);
    const first = await claimTasks(app.db.db, [task.id]);
    expect((await claimGatedTasks(app.db.db, first.gated)).held).toEqual([task.id]);
    // Resumed behind the service's back (another instance's write, say): only the maintenance can see it.
    await app.db.db.execute(sql`UPDATE task_type_settings SET paused = false WHERE name = 'emulate'`);
    await runMaintenance();
    expect((await rows([task.id]))[0]).toMatchObject({ status: 'PENDING', held_at: null });
    const messages = await app.db.db.execute<{ body: string }>(sql`SELECT body FROM queue_messages WHERE queue = 'tasks'`);
    expect(messages.rows.map((m) => JSON.parse(m.body).task_id)).toContain(task.id);
  });
});

describe('a gated claim that fails', () => {
  it("fails only the messages of the gated type; the batch's other tasks, already claimed, run", async () => {
    await consumer.stop();
    await patch('checksum', { paused: true });
    // Holding a task fails: the gated claim's transaction is refused.
    await app.db.db.execute(sql`
      CREATE FUNCTION refuse_hold() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.held_at IS NOT NULL THEN RAISE EXCEPTION 'refused'; END IF; RETURN NEW; END $$`);
    await app.db.db.execute(sql`CREATE TRIGGER refuse_hold BEFORE UPDATE ON tasks FOR EACH ROW EXECUTE FUNCTION refuse_hold()`);
    try {
      const free = await newTask(0);
      const gated = (await createTask({ type: 'checksum', title: 'c', priority: 'MEDIUM', payload: { text: 'x' } })).task;
      const messages = [free, gated].map((t, i) => ({
        id: `g${i}`,
        body: JSON.stringify({ task_id: t.id }),
        priority: 5,
        receiveCount: 1,
      }));
      const res = await processor(toSqsEvent('tasks', messages), fakeContext('processor'));
      expect(res.batchItemFailures).toEqual([{ itemIdentifier: 'g1' }]);
      expect((await rows([free.id]))[0]?.status).toBe('COMPLETED');
      expect((await rows([gated.id]))[0]).toMatchObject({ status: 'PENDING', held_at: null });
    } finally {
      await app.db.db.execute(sql`DROP TRIGGER refuse_hold ON tasks`);
      await app.db.db.execute(sql`DROP FUNCTION refuse_hold()`);
      await patch('checksum', { paused: false });
    }
  });
});
