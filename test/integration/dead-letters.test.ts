import { randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Context } from 'aws-lambda';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { resetConfig } from '#lib/config';
import { closeQueue, queue } from '#lib/queue/client';
import type { QueueDriver } from '#lib/queue/factory';
import { cancelTask, createTask } from '#lib/tasks/commands';
import { getTask, getTaskEvents } from '#lib/tasks/queries';
import { waitUntil } from '#lib/time';
import { type Bridge, startBridge } from '#local/bridge';
import { handler as deadLettersFn } from '../../functions/dead-letters';
import { handler as deleteHandler } from '../../functions/dead-letters-delete';
import { handler as listHandler } from '../../functions/dead-letters-list';
import { handler as redriveHandler } from '../../functions/dead-letters-redrive';
import { handler as redriveManyHandler } from '../../functions/dead-letters-redrive-many';
import { handler as dispatcherFn } from '../../functions/dispatcher';
import { handler as intakeFn } from '../../functions/intake';
import { handler as processorFn } from '../../functions/processor';
import { useTestApp } from '../helpers/app';
import { type LocalSqs, requireRabbitMq, startLocalSqs } from '../helpers/external-services';
import { fakeContext, httpEvent, invoke } from '../helpers/lambda';

const rabbitMq = await requireRabbitMq();

const app = useTestApp({ RETRY_BASE_MS: '10', RETRY_MAX_MS: '20', CANCEL_CHECK_MS: '100', DEFAULT_MAX_ATTEMPTS: '1' });

const list = (query: Record<string, string> = {}) => invoke(listHandler, httpEvent({ method: 'GET', path: '/api/v1/dead-letters', query }));
const redrive = (id: string) =>
  invoke(redriveHandler, httpEvent({ method: 'POST', path: `/api/v1/dead-letters/${id}/redrive`, pathParameters: { id } }));
const redriveMany = (body: object) => invoke(redriveManyHandler, httpEvent({ method: 'POST', path: '/api/v1/dead-letters/redrive', body }));
const discard = (id: string) =>
  invoke(deleteHandler, httpEvent({ method: 'DELETE', path: `/api/v1/dead-letters/${id}`, pathParameters: { id } }));

/** Stores a dead letter as if it had been recorded `secondsAgo` ago. */
async function insertDeadLetter(o: { queue: 'tasks' | 'task_intake'; body: string; taskId?: string; secondsAgo?: number }) {
  const res = await app.db.db.execute<{ id: string }>(sql`
    INSERT INTO dead_letters (queue, task_id, reason, body, failed_at, receive_count)
    VALUES (${o.queue}, ${o.taskId ?? null}, 'stored by the test', ${o.body}, now() - make_interval(secs => ${o.secondsAgo ?? 0}), 2)
    RETURNING id`);
  return res.rows[0]?.id as string;
}

const newTask = async (payload: Record<string, unknown> = { duration_ms: 0, failure_rate: 0 }) =>
  (await createTask({ type: 'emulate', title: 't', priority: 'MEDIUM', payload })).task;
const forTask = (id: string) => JSON.stringify({ task_id: id });

describe('the dead-letter routes', () => {
  beforeEach(async () => {
    await app.db.db.execute(sql`DELETE FROM dead_letters`);
    await queue().purge('tasks');
  });

  it('lists dead letters newest first, by queue, with paging', async () => {
    const a = await insertDeadLetter({ queue: 'tasks', body: '{"nope":1}', secondsAgo: 30 });
    const b = await insertDeadLetter({ queue: 'task_intake', body: '{{', secondsAgo: 20 });
    const c = await insertDeadLetter({ queue: 'tasks', body: '{"nope":2}', secondsAgo: 10 });
    const all = await list();
    expect(all.statusCode).toBe(200);
    expect(all.body).toEqual({
      items: [c, b, a].map((id) => ({
        id,
        queue: expect.any(String),
        task_id: null,
        reason: 'stored by the test',
        body: expect.any(String),
        failed_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
        receive_count: 2,
      })),
      total: 3,
      limit: 20,
      offset: 0,
    });
    const tasks = await list({ queue: 'tasks', limit: '1', offset: '1' });
    expect(tasks.body).toMatchObject({ items: [{ id: a, queue: 'tasks', body: '{"nope":1}' }], total: 2, limit: 1, offset: 1 });
    const intake = await list({ queue: 'task_intake' });
    expect(intake.body).toMatchObject({ items: [{ id: b, queue: 'task_intake', body: '{{' }], total: 1 });
  });

  it('answers 422 for a bad queue, page or id, naming the field', async () => {
    const badQueue = await list({ queue: 'tasks.dlq' });
    expect(badQueue.statusCode).toBe(422);
    expect(badQueue.body.errors).toEqual([{ path: 'queue', message: expect.any(String) }]);
    expect((await list({ limit: '0' })).body.errors).toEqual([{ path: 'limit', message: 'must be at least 1' }]);
    const badId = await redrive('nope');
    expect(badId.statusCode).toBe(422);
    expect(badId.body.errors).toEqual([{ path: 'id', message: 'must be a UUID' }]);
    const badBody = await redriveMany({ queue: 'tasks', ids: [] });
    expect(badBody.statusCode).toBe(422);
    expect(badBody.body.errors).toEqual([{ path: 'ids', message: 'at least one id' }]);
    expect((await redriveMany({ ids: [randomUUID()] })).body.errors).toEqual([{ path: 'queue', message: expect.any(String) }]);
  });

  it('a redrive meeting the retention of its task waits for it and answers 404: the two never deadlock', async () => {
    const task = await newTask();
    await cancelTask(task.id);
    const id = await insertDeadLetter({ queue: 'tasks', body: forTask(task.id), taskId: task.id });
    // The retention holds the expired task (SELECT ... FOR UPDATE SKIP LOCKED), then deletes it, and with it by
    // cascade its dead letters; the redrive comes in between.
    const retention = await app.db.pool.connect();
    try {
      await retention.query('BEGIN');
      await retention.query('SELECT id FROM tasks WHERE id = $1 FOR UPDATE SKIP LOCKED', [task.id]);
      const redriving = redrive(id);
      await new Promise((r) => setTimeout(r, 300));
      await retention.query('DELETE FROM tasks WHERE id = $1', [task.id]);
      await retention.query('COMMIT');
      const res = await redriving;
      expect(res.statusCode, JSON.stringify(res.body)).toBe(404);
      expect(res.body.detail).toBe('Dead letter not found');
    } finally {
      retention.release();
    }
  });

  it('discards a dead letter: 200 with it, then 404', async () => {
    const id = await insertDeadLetter({ queue: 'task_intake', body: '{{' });
    const res = await discard(id);
    expect(res.statusCode).toBe(200);
    expect(res.body).toMatchObject({ id, queue: 'task_intake', body: '{{' });
    expect((await list()).body.total).toBe(0);
    const again = await discard(id);
    expect(again.statusCode).toBe(404);
    expect(again.body).toMatchObject({ status: 404, detail: 'Dead letter not found' });
  });

  it('redrives a FAILED or CANCELLED task back to PENDING with a fresh attempt budget, once', async () => {
    const task = await newTask();
    await cancelTask(task.id);
    const id = await insertDeadLetter({ queue: 'tasks', body: forTask(task.id), taskId: task.id });
    const res = await redrive(id);
    expect(res.statusCode).toBe(200);
    expect(res.body).toEqual({
      dead_letter: expect.objectContaining({ id, queue: 'tasks', task_id: task.id }),
      task: expect.objectContaining({ id: task.id, status: 'PENDING', attempts: 0, error: null, finished_at: null }),
    });
    const events = (await getTaskEvents(task.id)).items.map((e) => `${e.from_status}->${e.to_status}:${e.reason}`);
    expect(events.at(-1)).toBe(`CANCELLED->PENDING:redriven from dead letter ${id}`);
    expect(await queue().depth('tasks')).toBe(2);
    // A second redrive of the same dead letter finds it gone.
    expect((await redrive(id)).statusCode).toBe(404);
  });

  it('gives a PENDING task a new message and leaves a NEW one to its outbox row', async () => {
    const pending = await newTask();
    const fresh = await newTask();
    await app.db.db.execute(sql`UPDATE tasks SET status = 'NEW' WHERE id = ${fresh.id}`);
    await queue().purge('tasks');
    const a = await redrive(await insertDeadLetter({ queue: 'tasks', body: forTask(pending.id), taskId: pending.id }));
    expect(a.statusCode).toBe(200);
    expect(a.body.task).toMatchObject({ id: pending.id, status: 'PENDING' });
    expect(await queue().depth('tasks')).toBe(1);
    const b = await redrive(await insertDeadLetter({ queue: 'tasks', body: forTask(fresh.id), taskId: fresh.id }));
    expect(b.statusCode).toBe(200);
    expect(b.body.task).toMatchObject({ id: fresh.id, status: 'NEW' });
    expect(await queue().depth('tasks')).toBe(1);
    // Neither moved: only the moves of their creation (and the test's own NEW) are there.
    expect((await getTaskEvents(pending.id)).items.map((e) => e.to_status)).toEqual(['NEW', 'PENDING']);
  });

  it('refuses with 409 a COMPLETED task, a task that is gone and a message naming none, keeping the dead letter', async () => {
    const done = await newTask();
    await app.db.db.execute(sql`UPDATE tasks SET status = 'COMPLETED', finished_at = now() WHERE id = ${done.id}`);
    const completed = await insertDeadLetter({ queue: 'tasks', body: forTask(done.id), taskId: done.id });
    const gone = await insertDeadLetter({ queue: 'tasks', body: forTask(randomUUID()) });
    const invalid = await insertDeadLetter({ queue: 'tasks', body: '{"nope":1}' });
    const answers = await Promise.all([completed, gone, invalid].map(redrive));
    expect(answers.map((r) => [r.statusCode, r.body.detail])).toEqual([
      [409, 'The task of this dead letter is COMPLETED; it can only be discarded'],
      [409, 'The task of this dead letter no longer exists; it can only be discarded'],
      [409, 'The dead letter is not a valid tasks message; it can only be discarded'],
    ]);
    expect((await list()).body.total).toBe(3);
    expect((await redrive(randomUUID())).statusCode).toBe(404);
  });

  it('redrives many: the given ones with one result each, or the oldest of the queue', async () => {
    const failed = await newTask();
    await cancelTask(failed.id);
    const ok = await insertDeadLetter({ queue: 'tasks', body: forTask(failed.id), taskId: failed.id, secondsAgo: 5 });
    const refused = await insertDeadLetter({ queue: 'tasks', body: '{"nope":1}', secondsAgo: 4 });
    const intake = await insertDeadLetter({ queue: 'task_intake', body: '{"title":"again"}' });
    const missing = randomUUID();
    const res = await redriveMany({ queue: 'tasks', ids: [ok, refused, missing, intake] });
    expect(res.statusCode).toBe(200);
    expect(res.body).toEqual({
      queue: 'tasks',
      succeeded: 1,
      failed: 3,
      remaining: 1,
      items: [
        { id: ok, status: 200, task: expect.objectContaining({ id: failed.id, status: 'PENDING' }), error: null },
        { id: refused, status: 409, task: null, error: 'The dead letter is not a valid tasks message; it can only be discarded' },
        { id: missing, status: 404, task: null, error: 'Dead letter not found' },
        // A dead letter of the other queue is not one of this queue's.
        { id: intake, status: 404, task: null, error: 'Dead letter not found' },
      ],
    });
    const all = await redriveMany({ queue: 'task_intake' });
    expect(all.body).toEqual({
      queue: 'task_intake',
      succeeded: 1,
      failed: 0,
      remaining: 0,
      items: [{ id: intake, status: 200, task: null, error: null }],
    });
    expect(await queue().depth('task_intake')).toBe(1);
    await queue().purge('task_intake');
  });
});

type AnyHandler = (event: never, context: Context) => Promise<unknown>;

/** serverless-offline's Lambda invoke API, in process: the bridge invokes these functions through it. */
async function startLambdaServer(functions: Record<string, AnyHandler>) {
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => {
      body += chunk.toString('utf8');
    });
    req.on('end', async () => {
      const name = /\/functions\/test-(\w+)\/invocations$/.exec(req.url ?? '')?.[1] ?? '';
      const fn = functions[name];
      if (!fn) {
        res.writeHead(404).end();
        return;
      }
      try {
        const result = await fn(JSON.parse(body) as never, fakeContext(name));
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(result ?? null));
      } catch (err) {
        res.writeHead(200, { 'x-amz-function-error': 'Unhandled' }).end(JSON.stringify({ errorMessage: String(err) }));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const drivers: Array<{ driver: QueueDriver; available: boolean }> = [
  { driver: 'postgres', available: true },
  { driver: 'rabbitmq', available: rabbitMq },
  { driver: 'sqs', available: true },
];

describe.each(drivers)('dead letters end to end on the $driver queue', ({ driver, available }) => {
  describe.runIf(available)('through the bridge and the functions', () => {
    let bridge: Bridge;
    let lambda: Awaited<ReturnType<typeof startLambdaServer>>;
    let sqs: LocalSqs | undefined;
    const saved: Record<string, string | undefined> = {};
    const setEnv = (env: Record<string, string>) => {
      for (const [k, v] of Object.entries(env)) {
        if (!(k in saved)) saved[k] = process.env[k];
        process.env[k] = v;
      }
      resetConfig();
    };

    beforeAll(async () => {
      await closeQueue();
      const env: Record<string, string> = {
        QUEUE_DRIVER: driver,
        QUEUE_NAMESPACE: `dl-${randomBytes(4).toString('hex')}`,
        RABBITMQ_QUEUE_EXPIRES_MS: '120000',
        SQS_WAIT_TIME_SECONDS: '0',
        EMULATE_FAILURE_RATE: '1',
      };
      if (driver === 'sqs') {
        sqs = await startLocalSqs();
        Object.assign(env, { AWS_ENDPOINT_URL_SQS: sqs.endpoint, AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' });
      }
      setEnv(env);
      await app.db.db.execute(sql`DELETE FROM dead_letters`);
      lambda = await startLambdaServer({
        processor: processorFn,
        intake: intakeFn,
        deadLetters: deadLettersFn,
        dispatcher: dispatcherFn,
      });
      bridge = await startBridge({
        lambdaUrl: lambda.url,
        functionPrefix: 'test-',
        slots: 20,
        batchSize: 10,
        dispatchEveryMs: 500,
        invokeTimeoutMs: 30_000,
        scheduleTickMs: 1_000,
        releaseEveryMs: 0,
        callbacks: false,
      });
    });

    afterAll(async () => {
      await bridge?.stop(5_000);
      await closeQueue();
      await lambda?.close();
      await sqs?.close();
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
      resetConfig();
    });

    const deadLetterOf = async (taskId: string) =>
      ((await list({ queue: 'tasks' })).body.items as Array<{ id: string; task_id: string | null; reason: string }>).find(
        (d) => d.task_id === taskId,
      );

    it('a task that failed into the dead letters is redriven and completes', async () => {
      const task = await newTask({ duration_ms: 0 });
      await queue().publish('tasks', [{ body: forTask(task.id) }]);
      await waitUntil('the task fails', async () => (await getTask(task.id)).status === 'FAILED', 15_000);
      // The dead letter is written right after the task's final failure.
      await waitUntil('its dead letter', async () => (await deadLetterOf(task.id)) !== undefined, 5_000);
      const dead = await deadLetterOf(task.id);
      expect(dead).toMatchObject({
        task_id: task.id,
        reason: `task ${task.id} failed after 1 attempt(s): Emulated failure (failure_rate 1)`,
      });
      // The cause is fixed (here: the failure rate), and the dead letter redriven.
      setEnv({ EMULATE_FAILURE_RATE: '0' });
      const res = await redrive(dead?.id as string);
      expect(res.statusCode).toBe(200);
      expect(res.body.task).toMatchObject({ id: task.id, status: 'PENDING' });
      await waitUntil('the task completes', async () => (await getTask(task.id)).status === 'COMPLETED', 15_000);
      expect(await deadLetterOf(task.id)).toBeUndefined();
      expect((await getTaskEvents(task.id)).items.map((e) => e.to_status)).toEqual([
        'NEW',
        'PENDING',
        'IN_PROGRESS',
        'FAILED',
        'PENDING',
        'IN_PROGRESS',
        'COMPLETED',
      ]);
      setEnv({ EMULATE_FAILURE_RATE: '1' });
    });

    it('an invalid intake message shows up with its reason and is discarded; a redriven valid one creates its task', async () => {
      const key = `dl-${randomUUID()}`;
      await queue().publish('task_intake', [{ body: JSON.stringify({ title: '', idempotency_key: key }) }]);
      let dead: { id: string; reason: string; body: string } | undefined;
      await waitUntil(
        'the dead letter',
        async () => {
          dead = (await list({ queue: 'task_intake' })).body.items.find((d: { body: string }) => d.body.includes(key));
          return dead !== undefined;
        },
        15_000,
      );
      expect(dead?.reason).toBe('the message is not a valid task: title: must not be blank');
      expect((await discard(dead?.id as string)).statusCode).toBe(200);
      expect((await list({ queue: 'task_intake' })).body.items.some((d: { id: string }) => d.id === dead?.id)).toBe(false);

      // A message given up on for a reason that has passed (the database was away too long) goes through when redriven.
      const valid = await insertDeadLetter({ queue: 'task_intake', body: JSON.stringify({ title: 'again', idempotency_key: key }) });
      expect((await redrive(valid)).body).toMatchObject({ dead_letter: { id: valid }, task: null });
      await waitUntil(
        'the task from the redriven message',
        async () => (await app.db.db.execute(sql`SELECT 1 FROM tasks WHERE idempotency_key = ${key}`)).rows.length === 1,
        15_000,
      );
    });

    it("records what the broker moved to a dead-letter queue itself, with the queue's reason", async () => {
      const task = await newTask({ duration_ms: 0 });
      await cancelTask(task.id);
      // As SQS does after maxReceiveCount: the message as it was, in the dead-letter queue.
      await queue().publish('tasks.dlq', [{ body: forTask(task.id) }]);
      await waitUntil('the dead letter', async () => (await deadLetterOf(task.id)) !== undefined, 15_000);
      expect((await deadLetterOf(task.id))?.reason).toMatch(/^moved to tasks\.dlq by the queue after \d+ deliveries without success/);
      // The message is acknowledged just after its dead letter is written, and the local SQS
      // emulator counts a received message until then: the queue empties soon after, not at once.
      await waitUntil('the dead-letter queue empties', async () => (await queue().depth('tasks.dlq')) === 0, 15_000);
    });
  });
});
