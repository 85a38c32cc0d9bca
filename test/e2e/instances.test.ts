import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitUntil } from '#lib/time';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { requireRabbitMq } from '../helpers/external-services';
import { auditUntilSettled, report, type Sent } from '../helpers/faults';
import { type RunningService, startService } from '../helpers/offline';

// Many instances: two complete stacks (serverless-offline and the bridge each, with the default 32 slots of one
// message per invocation) share one database and one broker. Long tasks hold only their own slots, a HIGH task
// starts before the LOW ones still waiting, scheduled tasks and recurring schedules run once per due time with both
// schedulers going, and every task created through either stack runs exactly once.

const rabbit = await requireRabbitMq();
const TASKS = 1_000;
const CLIENTS = 16;

interface TaskSpec {
  title: string;
  priority?: 'LOW' | 'MEDIUM' | 'HIGH';
  delay_ms?: number;
  payload: { duration_ms: number; failure_rate: 0 };
}

/** Creates tasks from `CLIENTS` loops, each create going to the next instance in turn; records every answer. */
async function createTasks(instances: RunningService[], n: number, spec: (i: number) => TaskSpec = defaultSpec): Promise<Sent[]> {
  const sent: Sent[] = [];
  let next = 0;
  const loop = async () => {
    for (let i = next++; i < n; i = next++) {
      const svc = instances[i % instances.length] as RunningService;
      const at = Date.now();
      const res = await fetch(`${svc.baseUrl}/api/v1/tasks`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(spec(i)),
        signal: AbortSignal.timeout(20_000),
      });
      const json = (await res.json().catch(() => ({}))) as { id?: string; status?: string };
      sent.push({ status: res.status, id: json.id, taskStatus: json.status, at });
    }
  };
  await Promise.all(Array.from({ length: CLIENTS }, loop));
  return sent;
}

const defaultSpec = (i: number): TaskSpec => ({ title: `task ${i}`, payload: { duration_ms: 20, failure_rate: 0 } });

/** Creates tasks and answers their ids, failing on any answer but 201. */
async function created(instances: RunningService[], n: number, spec: (i: number) => TaskSpec): Promise<string[]> {
  const sent = await createTasks(instances, n, spec);
  expect(sent.filter((s) => s.status !== 201)).toEqual([]);
  return sent.map((s) => s.id as string);
}

interface Row {
  id: string;
  status: string;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
}

const drivers = [
  { driver: 'postgres', available: true },
  { driver: 'rabbitmq', available: rabbit },
];

describe.each(drivers)('two instances on one database ($driver queue)', ({ driver, available }) => {
  let database: TestDatabase | undefined;
  const instances: RunningService[] = [];
  const stops: Array<() => Promise<void>> = [];

  beforeAll(async () => {
    if (!available) return;
    database = await createTestDatabase();
    const env = {
      DATABASE_URL: database.url,
      QUEUE_DRIVER: driver,
      QUEUE_NAMESPACE: `instances_${process.pid}`,
      RABBITMQ_QUEUE_EXPIRES_MS: '600000',
      OUTBOX_INTERVAL_MS: '500',
    };
    const started = await Promise.allSettled([startService({ bridge: true, env }), startService({ bridge: true, env })]);
    for (const s of started) {
      if (s.status === 'fulfilled') {
        instances.push(s.value.svc);
        stops.push(s.value.stop);
      }
    }
    const failed = started.find((s) => s.status === 'rejected');
    if (failed) throw failed.reason;
  });
  afterAll(async () => {
    await Promise.all(stops.map((stop) => stop()));
    await database?.drop();
  });

  const tasks = async (ids: string[]) =>
    (
      await (database as TestDatabase).pool.query<Row>(
        'SELECT id, status, created_at, started_at, finished_at FROM tasks WHERE id = ANY($1::uuid[]) ORDER BY created_at',
        [ids],
      )
    ).rows;
  const count = async (status: string) =>
    Number((await (database as TestDatabase).pool.query('SELECT count(*) AS n FROM tasks WHERE status = $1', [status])).rows[0].n);

  it.runIf(available)('runs 50 short tasks within 2 s while 4 long ones run: a long task holds its own slot only', async () => {
    const long: string[] = [];
    for (let i = 0; i < 4; i++) {
      // Long enough to be running still however slowly the short ones are created; cancelled once checked.
      long.push(...(await created(instances, 1, () => ({ title: `long ${i}`, payload: { duration_ms: 30_000, failure_rate: 0 } }))));
      await sleep(400);
    }
    const short = await created(instances, 50, (i) => ({ title: `short ${i}`, payload: { duration_ms: 50, failure_rate: 0 } }));
    await waitUntil('the short tasks', async () => (await tasks(short)).every((t) => t.status === 'COMPLETED'), 10_000, 100);
    const shortRows = await tasks(short);
    const lastCreated = Math.max(...shortRows.map((t) => t.created_at.getTime()));
    const lastFinished = Math.max(...shortRows.map((t) => (t.finished_at as Date).getTime()));
    expect(lastFinished - lastCreated).toBeLessThan(2_000);
    expect(Math.max(...shortRows.map((t) => (t.started_at as Date).getTime() - t.created_at.getTime()))).toBeLessThan(2_000);
    // The long ones were still running meanwhile.
    expect((await tasks(long)).map((t) => t.status)).toEqual(['IN_PROGRESS', 'IN_PROGRESS', 'IN_PROGRESS', 'IN_PROGRESS']);
    for (const id of long) expect((await fetch(`${instances[0]?.baseUrl}/api/v1/tasks/${id}`, { method: 'DELETE' })).status).toBe(200);
    await waitUntil('the long tasks stopped', async () => (await tasks(long)).every((t) => t.status === 'CANCELLED'), 15_000, 100);
  });

  it.runIf(available)('starts every HIGH task before the LOW ones still waiting once the slots are full', async () => {
    // 2 instances x 32 slots: 72 LOW tasks fill them and leave 8 waiting. They end one by one, some 60 ms apart, so
    // that the order in which freed slots take the next task is not blurred by the time an invocation takes to start.
    const low = await created(instances, 72, (i) => ({
      title: `low ${i}`,
      priority: 'LOW',
      payload: { duration_ms: 6_000 + 60 * i, failure_rate: 0 },
    }));
    await waitUntil('the slots full', async () => (await count('IN_PROGRESS')) === 64, 10_000, 50);
    const waiting = (await tasks(low)).filter((t) => t.status === 'PENDING').map((t) => t.id);
    expect(waiting).toHaveLength(8);
    const high = await created(instances, 3, (i) => ({
      title: `high ${i}`,
      priority: 'HIGH',
      payload: { duration_ms: 50, failure_rate: 0 },
    }));
    // Every HIGH message is in the queue once its create has answered (a create answers after the broker confirmed).
    const highQueuedAt = Date.now();
    const lateLow = await created(instances, 3, (i) => ({
      title: `late low ${i}`,
      priority: 'LOW',
      payload: { duration_ms: 50, failure_rate: 0 },
    }));
    expect(await count('IN_PROGRESS')).toBe(64);
    const all = [...low, ...high, ...lateLow];
    await waitUntil('every task', async () => (await tasks(all)).every((t) => t.status === 'COMPLETED'), 30_000, 100);
    // The LOW tasks that had not started when the HIGH ones were queued start after every HIGH one. (A slot frees
    // every 60 ms: one may go to a waiting LOW task while the HIGH creates are still being answered.)
    const startOf = (t: Row) => (t.started_at as Date).getTime();
    const lastHighStart = Math.max(...(await tasks(high)).map(startOf));
    const lowAfter = (await tasks([...waiting, ...lateLow])).filter((t) => startOf(t) > highQueuedAt);
    expect(lowAfter.length).toBeGreaterThanOrEqual(8);
    expect(lowAfter.filter((t) => startOf(t) < lastHighStart).map((t) => t.id)).toEqual([]);
  });

  it.runIf(available)('releases each scheduled task once, on time, and makes one task per due time of a schedule', async () => {
    const db = database as TestDatabase;
    // Scheduled tasks: both instances' releasers look for them; each starts once, on time.
    const scheduled = await created(instances, 30, (i) => ({
      title: `scheduled ${i}`,
      delay_ms: 1_500,
      payload: { duration_ms: 20, failure_rate: 0 },
    }));
    await waitUntil('the scheduled tasks', async () => (await tasks(scheduled)).every((t) => t.status === 'COMPLETED'), 15_000, 100);
    const late = await db.pool.query<{ id: string; ms: number; runs: number }>(
      `SELECT t.id, extract(epoch FROM t.started_at - t.run_at) * 1000 AS ms,
         (SELECT count(*)::int FROM task_events e WHERE e.task_id = t.id AND e.to_status = 'IN_PROGRESS') AS runs
       FROM tasks t WHERE t.id = ANY($1::uuid[])`,
      [scheduled],
    );
    expect(late.rows.filter((r) => r.runs !== 1)).toEqual([]);
    // On time: the 1 s bound itself is asserted with one instance (test/e2e/scheduling.test.ts); two complete stacks
    // on two shared cores get a margin (1,072 ms was seen once in a loaded run), the median stays well within it.
    const lateness = late.rows.map((r) => Number(r.ms)).sort((a, b) => a - b);
    expect(lateness[Math.floor(lateness.length / 2)]).toBeLessThan(500);
    expect(lateness.at(-1)).toBeLessThan(2_000);

    // Recurring schedules: both instances' dispatchers tick; every due time makes exactly one task. The cron is yearly
    // so that the only due times within the test are the ones it sets: with every minute, a minute that began during a
    // round's wait was a due time of its own, and made a second, rightful task per schedule.
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await fetch(`${instances[i % 2]?.baseUrl}/api/v1/schedules`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          name: `new year ${i}`,
          cron: '0 0 1 1 *',
          task: { title: `from schedule ${i}`, payload: { duration_ms: 0, failure_rate: 0 } },
        }),
      });
      expect(res.status).toBe(201);
      ids.push(((await res.json()) as { id: string }).id);
    }
    for (let round = 1; round <= 3; round++) {
      // Due now (a due time that has passed), for both schedulers at once.
      await db.pool.query(`UPDATE schedules SET next_run_at = now() - interval '1 second' * $2 WHERE id = ANY($1::uuid[])`, [ids, round]);
      const made = async () =>
        (await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM tasks WHERE schedule_id = ANY($1::uuid[])', [ids])).rows[0]?.n;
      await waitUntil('the due schedules', async () => (await made()) === 5 * round, 10_000, 100);
      await sleep(1_500); // both schedulers have ticked again meanwhile
      expect(await made()).toBe(5 * round);
    }
    const perDueTime = await db.pool.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM tasks WHERE schedule_id = ANY($1::uuid[]) GROUP BY schedule_id, schedule_due_at',
      [ids],
    );
    expect(perDueTime.rows.map((r) => r.n)).toEqual(Array(15).fill(1));
  });

  it.runIf(available)(`runs each of ${TASKS} tasks created through both exactly once`, async () => {
    const since = Date.now();
    const sent = await createTasks(instances, TASKS);
    const ids = sent.filter((s) => s.status === 201 && s.id).map((s) => s.id as string);
    const a = await auditUntilSettled(database?.url as string, ids, since, 60_000);
    report(`two instances, ${driver}`, sent, a);
    expect(sent.filter((s) => s.status !== 201)).toEqual([]);
    expect(a).toMatchObject({ accepted: TASKS, missing: 0, terminal: TASKS, completed: TASKS, stuck: [], stranded: [] });
    // One IN_PROGRESS per task: none started twice, none completed twice.
    expect(a.ranTwice).toEqual([]);
    expect(a.duplicates).toEqual([]);
    expect(a.runs).toBe(TASKS);
  });
});
