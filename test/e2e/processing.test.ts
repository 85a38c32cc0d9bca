import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createQueue } from '#lib/queue/factory';
import { type LocalSqs, requireRabbitMq, startLocalSqs } from '../helpers/external-services';
import { request, useService } from '../helpers/offline';

type Task = { id: string; status: string; progress: number | null; [k: string]: unknown };

const TERMINAL = ['COMPLETED', 'FAILED', 'CANCELLED'];

const drivers = (await requireRabbitMq()) ? (['postgres', 'rabbitmq', 'sqs'] as const) : (['postgres', 'sqs'] as const);

describe.each(drivers)('processing through the bridge on %s', (driver) => {
  const namespace = `e2e_${randomBytes(4).toString('hex')}`;
  // SQS runs on local-aws-sqs in this process; the functions and the bridge reach it over HTTP.
  let sqs: LocalSqs | undefined;
  beforeAll(async () => {
    if (driver === 'sqs') sqs = await startLocalSqs();
  });
  afterAll(async () => sqs?.close());
  const sqsEnv = (): Record<string, string> =>
    sqs
      ? {
          AWS_ENDPOINT_URL_SQS: sqs.endpoint,
          AWS_ACCESS_KEY_ID: 'local',
          AWS_SECRET_ACCESS_KEY: 'local',
          AWS_REGION: 'us-east-1',
          SQS_WAIT_TIME_SECONDS: '0',
        }
      : {};
  const svc = useService({
    bridge: true,
    env: () => ({
      QUEUE_DRIVER: driver,
      QUEUE_NAMESPACE: namespace,
      RABBITMQ_QUEUE_EXPIRES_MS: '600000',
      WORKER_CONCURRENCY: '2',
      WORKER_BATCH_SIZE: '1',
      OUTBOX_INTERVAL_MS: '500',
      ...sqsEnv(),
    }),
  });
  const call = (method: string, path: string, body?: unknown) => request(svc.baseUrl, method, path, body);
  const create = async (body: object) => {
    const res = await call('POST', '/api/v1/tasks', body);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body as Task;
  };
  const get = async (id: string) => (await call('GET', `/api/v1/tasks/${id}`)).body as Task;
  const waitFor = async (id: string, done: (t: Task) => boolean, timeoutMs = 20_000): Promise<{ task: Task; seen: Task[] }> => {
    const seen: Task[] = [];
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const t = await get(id);
      seen.push(t);
      if (done(t)) return { task: t, seen };
      await sleep(50);
    }
    throw new Error(`task ${id} did not get there in ${timeoutMs} ms; last: ${JSON.stringify(seen.at(-1))}`);
  };
  const history = async (id: string) =>
    ((await call('GET', `/api/v1/tasks/${id}/events`)).body.items as Array<{ to_status: string }>).map((e) => e.to_status);

  it('runs a task: PENDING, IN_PROGRESS with progress, then COMPLETED with its result', async () => {
    const task = await create({ title: 'run me', payload: { duration_ms: 1500, failure_rate: 0 } });
    expect(['PENDING', 'IN_PROGRESS']).toContain(task.status);
    const { task: done, seen } = await waitFor(task.id, (t) => TERMINAL.includes(t.status));
    expect(seen.some((t) => t.status === 'IN_PROGRESS' && (t.progress ?? 0) > 0 && (t.progress ?? 0) < 100)).toBe(true);
    expect(done).toMatchObject({ status: 'COMPLETED', result: { slept_ms: 1500 }, progress: 100, attempts: 1, error: null });
    expect(Date.parse(done.finished_at as string)).toBeGreaterThanOrEqual(Date.parse(done.started_at as string) + 1400);
    expect(await history(task.id)).toEqual(['NEW', 'PENDING', 'IN_PROGRESS', 'COMPLETED']);
  });

  it('records a forced failure, and a retry runs it again', async () => {
    const task = await create({ title: 'fail me', payload: { duration_ms: 0, failure_rate: 1 } });
    const { task: failed } = await waitFor(task.id, (t) => TERMINAL.includes(t.status));
    expect(failed).toMatchObject({ status: 'FAILED', error: expect.stringContaining('Emulated failure'), attempts: 1, result: null });
    const retried = await call('POST', `/api/v1/tasks/${task.id}/retry`);
    expect(retried.status).toBe(200);
    const { task: again } = await waitFor(task.id, (t) => t.status === 'FAILED' && t.finished_at !== null);
    expect(again.attempts).toBe(1);
    expect(await history(task.id)).toEqual(['NEW', 'PENDING', 'IN_PROGRESS', 'FAILED', 'PENDING', 'IN_PROGRESS', 'FAILED']);
  });

  it('retries automatically with max_attempts, keeping the error of each attempt', async () => {
    const task = await create({ title: 'flaky', max_attempts: 2, payload: { duration_ms: 0, failure_rate: 1 } });
    const { task: failed } = await waitFor(task.id, (t) => t.status === 'FAILED');
    expect(failed.attempts).toBe(2);
    expect(await history(task.id)).toEqual(['NEW', 'PENDING', 'IN_PROGRESS', 'PENDING', 'IN_PROGRESS', 'FAILED']);
  });

  // Two long blockers hold both workers (WORKER_CONCURRENCY 2, batch 1) for as long as a step needs,
  // however slow the machine; cancelling them frees the workers.
  const holdWorkers = async () => {
    const blockers = await Promise.all([1, 2].map(() => create({ title: 'blocker', payload: { duration_ms: 30_000, failure_rate: 0 } })));
    await Promise.all(blockers.map((b) => waitFor(b.id, (t) => t.status === 'IN_PROGRESS')));
    return blockers;
  };
  const release = async (blockers: Task[]) => {
    for (const b of blockers) await call('DELETE', `/api/v1/tasks/${b.id}`);
    await Promise.all(blockers.map((b) => waitFor(b.id, (t) => TERMINAL.includes(t.status))));
  };

  it('never runs a task cancelled while queued, and stops a running one within a second', async () => {
    const blockers = await holdWorkers();
    const queued = await create({ title: 'never run', payload: { duration_ms: 0, failure_rate: 0 } });
    expect((await call('DELETE', `/api/v1/tasks/${queued.id}`)).status).toBe(200);

    const running = blockers[0] as Task;
    const cancelled = await call('DELETE', `/api/v1/tasks/${running.id}`);
    expect(cancelled.body.status).toBe('CANCELLED');
    const asked = Date.now();
    const next = await create({ title: 'runs once a worker is free', payload: { duration_ms: 0, failure_rate: 0 } });
    await waitFor(next.id, (t) => t.status === 'COMPLETED');
    // The freed worker took the next task: the cancelled run stopped, not just its status.
    expect(Date.now() - asked).toBeLessThan(5_000);
    await release(blockers);
    await sleep(1_000);
    expect(await get(queued.id)).toMatchObject({ status: 'CANCELLED', started_at: null, attempts: 0 });
    expect(await history(queued.id)).toEqual(['NEW', 'PENDING', 'CANCELLED']);
    expect(await history(running.id)).toEqual(['NEW', 'PENDING', 'IN_PROGRESS', 'CANCELLED']);
  });

  // SQS has no message priorities.
  it.runIf(driver !== 'sqs')('takes HIGH priority tasks before LOW ones when there is a backlog', async () => {
    const blockers = await holdWorkers();
    const low: Task[] = [];
    const high: Task[] = [];
    for (let i = 0; i < 4; i++)
      low.push(await create({ title: `low ${i}`, priority: 'LOW', payload: { duration_ms: 100, failure_rate: 0 } }));
    for (let i = 0; i < 4; i++)
      high.push(await create({ title: `high ${i}`, priority: 'HIGH', payload: { duration_ms: 100, failure_rate: 0 } }));
    // One slot is freed and runs all eight, one after another, so their start times are the order it took them in.
    // (Two slots freed together could take the last HIGH and the first LOW at the same moment.)
    await release(blockers.slice(0, 1));
    const done = await Promise.all([...low, ...high].map(async (t) => (await waitFor(t.id, (x) => x.status === 'COMPLETED')).task));
    await release(blockers.slice(1));
    const started = (ts: Task[]) => ts.map((t) => Date.parse(done.find((d) => d.id === t.id)?.started_at as string));
    expect(Math.max(...started(high))).toBeLessThanOrEqual(Math.min(...started(low)));
  });

  it('creates tasks from task_intake messages, once per idempotency key, and dead-letters invalid ones', async () => {
    const queue = sqs
      ? createQueue({
          driver: 'sqs',
          namespace,
          sqsEndpoint: sqs.endpoint,
          sqsCredentials: { accessKeyId: 'local', secretAccessKey: 'local' },
          waitTimeSeconds: 0,
        })
      : createQueue({ driver, namespace, databaseUrl: svc.databaseUrl, expiresMs: 600_000 });
    try {
      const key = `intake-${randomBytes(4).toString('hex')}`;
      const message = { title: `from intake ${key}`, payload: { duration_ms: 0, failure_rate: 0 }, idempotency_key: key };
      await queue.publish('task_intake', [{ body: JSON.stringify(message) }, { body: JSON.stringify(message) }]);
      await queue.publish('task_intake', [{ body: JSON.stringify({ title: '' }) }, { body: 'not json' }]);
      let found: Task[] = [];
      for (let i = 0; i < 200 && found.length === 0; i++) {
        await sleep(100);
        found = (await call('GET', `/api/v1/tasks?search=${key}`)).body.items;
      }
      expect(found).toHaveLength(1);
      await waitFor((found[0] as Task).id, (t) => t.status === 'COMPLETED');
      await sleep(500);
      expect((await call('GET', `/api/v1/tasks?search=${key}`)).body.total).toBe(1);
      // Both invalid messages are dead letters, with their reasons, whatever the queue driver.
      let dead: Array<{ body: string; reason: string }> = [];
      for (let i = 0; i < 100 && dead.length < 2; i++) {
        dead = (await call('GET', '/api/v1/dead-letters?queue=task_intake&limit=100')).body.items;
        dead = dead.filter((d) => d.body === 'not json' || d.body === JSON.stringify({ title: '' }));
        if (dead.length < 2) await sleep(100);
      }
      expect(dead.map((d) => d.reason).sort()).toEqual([
        'the message is not a valid task: title: must not be blank',
        'the message is not valid JSON',
      ]);
    } finally {
      await queue.close();
    }
  });
});
