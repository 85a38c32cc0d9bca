import { createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { resetConfig } from '#lib/config';
import { listCallbackDeliveries } from '#lib/db/callbacks';
import { toSqsEvent } from '#lib/queue/events';
import { deliverDueCallbacks, runCallbackSender } from '#lib/tasks/callbacks';
import { retryTask } from '#lib/tasks/commands';
import { runMaintenance } from '#lib/tasks/dispatcher';
import { processIntakeMessage } from '#lib/tasks/intake';
import { waitUntil } from '#lib/time';
import { handler as dispatcher } from '../../functions/dispatcher';
import { handler as processor } from '../../functions/processor';
import { handler as callbacks } from '../../functions/tasks-callbacks';
import { handler as cancel } from '../../functions/tasks-cancel';
import { handler as create } from '../../functions/tasks-create';
import { handler as get } from '../../functions/tasks-get';
import { useTestApp } from '../helpers/app';
import { fakeContext, httpEvent, invoke } from '../helpers/lambda';

const SECRET = 'callback-test-secret-0123456789';
const app = useTestApp({
  CALLBACK_SECRET: SECRET,
  CALLBACK_ALLOW_PRIVATE: 'loopback',
  CALLBACK_RETRY_BASE_MS: '50',
  CALLBACK_RETRY_MAX_MS: '200',
  CALLBACK_TIMEOUT_MS: '1000',
  CALLBACK_POLL_MS: '60000',
});

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** A request the receiver got. */
interface Received {
  path: string;
  headers: http.IncomingHttpHeaders;
  raw: Buffer;
  body: { event: string; task: Record<string, unknown> };
  at: number;
}

/** How the receiver answers a path: a status, after an optional pause (ms). */
type Answer = { status: number; delayMs?: number };

// The receiver: a real HTTP server on 127.0.0.1 that records every request and answers as told per path.
const received: Received[] = [];
const answers = new Map<string, Answer[]>();
let server: http.Server;
let base: string;
let port: number;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const path = req.url ?? '/';
      received.push({ path, headers: req.headers, raw, body: JSON.parse(raw.toString('utf8')), at: Date.now() });
      const queue = answers.get(path) ?? [];
      const answer = (queue.length > 1 ? queue.shift() : queue[0]) ?? { status: 204 };
      setTimeout(() => res.writeHead(answer.status).end(), answer.delayMs ?? 0);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
  base = `http://127.0.0.1:${port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});
beforeEach(() => {
  received.length = 0;
  answers.clear();
});

/** Sets env for one test (and the config's cache); undone by the returned function. */
function withEnv(env: Record<string, string | undefined>): () => void {
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  const apply = (values: Record<string, string | undefined>) => {
    for (const [k, v] of Object.entries(values)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    resetConfig();
  };
  apply(env);
  return () => apply(saved);
}

let seq = 0;
const post = (body: object) => invoke(create, httpEvent({ method: 'POST', path: '/api/v1/tasks', body }));
const byId = (handler: Parameters<typeof invoke>[0], method: string, id: string, suffix = '') =>
  invoke(handler, httpEvent({ method, path: `/api/v1/tasks/${id}${suffix}`, pathParameters: { id } }));
const callbackLog = (id: string) => byId(callbacks, 'GET', id, '/callbacks');
/** Creates a task with a callback to `url` (201 expected). */
async function newTask(url: string | undefined, payload: Record<string, unknown> = { duration_ms: 0, failure_rate: 0 }) {
  const res = await post({ title: `t${++seq}`, payload, ...(url === undefined ? {} : { callback_url: url }) });
  expect(res.statusCode).toBe(201);
  return res.body as { id: string; callback_url: string | null };
}
/** Runs the tasks through the processor function (as the queue would). */
const run = (...ids: string[]) =>
  processor(
    toSqsEvent(
      'tasks',
      ids.map((id) => ({ id: `m${++seq}`, body: JSON.stringify({ task_id: id }), priority: 5, receiveCount: 1 })),
    ),
    fakeContext('processor'),
  );
const verify = (r: Received) => {
  const expected = Buffer.from(`sha256=${createHmac('sha256', SECRET).update(r.raw).digest('hex')}`);
  const got = Buffer.from(String(r.headers['x-signature']));
  return got.length === expected.length && timingSafeEqual(got, expected);
};

describe('task callbacks', () => {
  it('POSTs the completed task, signed, with its ids in headers, and logs the attempt', async () => {
    const task = await newTask(`${base}/done`);
    expect(task.callback_url).toBe(`${base}/done`);
    await run(task.id);
    // The delivery was written with the task's end, before any sender ran.
    expect((await listCallbackDeliveries(app.db.db, task.id)).map((d) => [d.event, d.state, d.attempts])).toEqual([
      ['task.completed', 'pending', 0],
    ]);
    expect(await deliverDueCallbacks()).toBe(1);

    expect(received).toHaveLength(1);
    const r = received[0] as Received;
    const shown = (await byId(get, 'GET', task.id)).body;
    expect(r.path).toBe('/done');
    expect(r.body).toEqual({ event: 'task.completed', task: shown });
    expect(shown).toMatchObject({ status: 'COMPLETED', callback_url: `${base}/done` });
    expect(r.headers).toMatchObject({
      'content-type': 'application/json',
      'x-task-id': task.id,
      'x-delivery-id': expect.stringMatching(UUID),
      'x-signature': expect.stringMatching(/^sha256=[0-9a-f]{64}$/),
    });
    expect(verify(r)).toBe(true);
    expect(verify({ ...r, raw: Buffer.from(`${r.raw.toString()} `) })).toBe(false);

    const log = await callbackLog(task.id);
    expect(log.statusCode).toBe(200);
    expect(log.body).toEqual({
      items: [
        {
          delivery_id: r.headers['x-delivery-id'],
          event: 'task.completed',
          attempt: 1,
          at: expect.stringMatching(ISO),
          status_code: 204,
          error: null,
          duration_ms: expect.any(Number),
        },
      ],
    });
    expect((await listCallbackDeliveries(app.db.db, task.id))[0]?.state).toBe('delivered');
    // Nothing more is due.
    expect(await deliverDueCallbacks()).toBe(0);
  });

  it('retries after a 500 with backoff, same delivery id, then succeeds; the log lists both attempts', async () => {
    answers.set('/flaky', [{ status: 500 }, { status: 200 }]);
    const task = await newTask(`${base}/flaky`);
    await run(task.id);
    // A backoff long enough that a stalled moment of the test's own cannot make the retry due early.
    const restore = withEnv({ CALLBACK_RETRY_BASE_MS: '400' });
    try {
      expect(await deliverDueCallbacks()).toBe(1);
      // Not due again before the backoff.
      expect(await deliverDueCallbacks()).toBe(0);
      await new Promise((r) => setTimeout(r, 450));
      expect(await deliverDueCallbacks()).toBe(1);
    } finally {
      restore();
    }
    expect(received.map((r) => r.headers['x-delivery-id'])).toEqual([
      received[0]?.headers['x-delivery-id'],
      received[0]?.headers['x-delivery-id'],
    ]);
    expect(received[0]?.raw.equals(received[1]?.raw as Buffer)).toBe(true);
    const items = (await callbackLog(task.id)).body.items;
    expect(items.map((i: { attempt: number; status_code: number; error: string | null }) => [i.attempt, i.status_code, i.error])).toEqual([
      [1, 500, 'answered 500'],
      [2, 200, null],
    ]);
  });

  it('sends task.failed and task.cancelled, one delivery per end of the task, and nothing for a task without a callback_url', async () => {
    const failing = await newTask(`${base}/ends`, { duration_ms: 0, failure_rate: 1 });
    const cancelled = await newTask(`${base}/ends`);
    const without = await newTask(undefined);
    await run(failing.id, without.id);
    expect((await byId(cancel, 'DELETE', cancelled.id)).statusCode).toBe(200);
    expect(await deliverDueCallbacks()).toBe(2);
    const byTask = Object.fromEntries(received.map((r) => [r.body.task.id, r.body]));
    expect(byTask[failing.id]).toMatchObject({ event: 'task.failed', task: { status: 'FAILED', error: expect.any(String) } });
    expect(byTask[cancelled.id]).toMatchObject({ event: 'task.cancelled', task: { status: 'CANCELLED' } });
    expect(await listCallbackDeliveries(app.db.db, without.id)).toEqual([]);
    expect((await callbackLog(without.id)).body).toEqual({ items: [] });
  });

  it("sends one task's deliveries in the order it ended: a later end waits for an earlier one still being retried", async () => {
    answers.set('/order', [{ status: 500 }, { status: 204 }]);
    const task = await newTask(`${base}/order`);
    expect((await byId(cancel, 'DELETE', task.id)).statusCode).toBe(200);
    const restore = withEnv({ CALLBACK_RETRY_BASE_MS: '400' });
    try {
      // The receiver fails task.cancelled; the task is retried and completes before that delivery's next attempt.
      expect(await deliverDueCallbacks()).toBe(1);
      await retryTask(task.id);
      await run(task.id);
      expect((await byId(get, 'GET', task.id)).body.status).toBe('COMPLETED');
      const sent = () => received.filter((r) => r.path === '/order').map((r) => r.body.event);
      await waitUntil(
        'both deliveries',
        async () => {
          await deliverDueCallbacks();
          return sent().length >= 3;
        },
        5_000,
        50,
      );
      // The receiver's last word is the task's last end.
      expect(sent()).toEqual(['task.cancelled', 'task.cancelled', 'task.completed']);
    } finally {
      restore();
    }
  });

  it('a task the maintenance fails (its run lost once too often) gets its task.failed callback', async () => {
    const task = await newTask(`${base}/lost`);
    // A run whose worker was lost an hour ago, on its last allowed loss.
    await app.db.db.execute(sql`UPDATE tasks SET status = 'IN_PROGRESS', attempts = max_attempts + 3,
      started_at = now() - interval '1 hour', heartbeat_at = now() - interval '1 hour' WHERE id = ${task.id}`);
    // The maintenance takes no run for lost while the server is younger than a lease (its runs may not have had the
    // time to renew since it started): a short lease, so that an embedded server started for this test run qualifies.
    const restore = withEnv({ LEASE_MS: '1000' });
    try {
      await expect
        .poll(
          async () =>
            (await app.db.db.execute<{ old: boolean }>(sql`SELECT pg_postmaster_start_time() < now() - interval '1 second' AS old`)).rows[0]
              ?.old,
          {
            timeout: 5_000,
          },
        )
        .toBe(true);
      await runMaintenance();
    } finally {
      restore();
    }
    await deliverDueCallbacks();
    expect(received.map((r) => r.body)).toEqual([
      {
        event: 'task.failed',
        task: expect.objectContaining({ id: task.id, status: 'FAILED', error: 'lease expired: the worker running this attempt was lost' }),
      },
    ]);
  });

  it('a task from the task_intake queue gets its callback too', async () => {
    expect(
      await processIntakeMessage(JSON.stringify({ title: 'from intake', payload: { duration_ms: 0 }, callback_url: `${base}/intake` })),
    ).toBe('done');
    const [row] = (await app.db.db.execute<{ id: string }>(sql`SELECT id FROM tasks WHERE title = 'from intake'`)).rows;
    await run(row?.id as string);
    await deliverDueCallbacks();
    expect(received.map((r) => [r.path, r.body.task.id])).toEqual([['/intake', row?.id]]);
  });

  it('many senders at once never send the same attempt twice', async () => {
    const tasks = await Promise.all(Array.from({ length: 30 }, () => newTask(`${base}/many`)));
    await run(...tasks.slice(0, 10).map((t) => t.id));
    await run(...tasks.slice(10, 20).map((t) => t.id));
    await run(...tasks.slice(20).map((t) => t.id));
    const made = await Promise.all([deliverDueCallbacks(), deliverDueCallbacks(), deliverDueCallbacks(), deliverDueCallbacks()]);
    expect(made.reduce((a, b) => a + b, 0)).toBe(30);
    expect(received).toHaveLength(30);
    expect(new Set(received.map((r) => r.headers['x-delivery-id'])).size).toBe(30);
    expect(new Set(received.map((r) => r.body.task.id))).toEqual(new Set(tasks.map((t) => t.id)));
  });

  it('a slow receiver never delays the task, and its attempt fails after CALLBACK_TIMEOUT_MS', async () => {
    answers.set('/slow', [{ status: 200, delayMs: 3_000 }]);
    const stop = new AbortController();
    const sender = runCallbackSender({ signal: stop.signal, listen: true });
    try {
      const first = await newTask(`${base}/slow`);
      await run(first.id);
      await waitUntil('the first callback reaches the receiver', () => received.length === 1, 5_000);
      // The receiver holds the first callback; other tasks run and end as fast as ever.
      const second = await newTask(`${base}/slow`);
      const started = performance.now();
      await run(second.id);
      expect(performance.now() - started).toBeLessThan(500);
      expect((await byId(get, 'GET', second.id)).body.status).toBe('COMPLETED');
      await waitUntil('both attempts are recorded', async () => (await callbackLog(second.id)).body.items.length === 1, 5_000);
      expect((await callbackLog(first.id)).body.items[0]).toMatchObject({
        attempt: 1,
        status_code: null,
        error: 'no answer within 1000 ms',
      });
    } finally {
      stop.abort();
      await sender;
    }
  });

  it('the running sender is woken by the delivery: the callback arrives within moments of the task end', async () => {
    // CALLBACK_POLL_MS is 60 s here: only the notification can wake the sender in time.
    const stop = new AbortController();
    const sender = runCallbackSender({ signal: stop.signal, listen: true });
    try {
      await new Promise((r) => setTimeout(r, 200));
      const delays: number[] = [];
      for (let i = 0; i < 5; i++) {
        const task = await newTask(`${base}/fast`);
        await run(task.id);
        await waitUntil('the callback arrives', () => received.some((r) => r.body.task.id === task.id), 2_000, 5);
        const r = received.find((x) => x.body.task.id === task.id) as Received;
        delays.push(r.at - Date.parse(String(r.body.task.finished_at)));
      }
      expect(Math.max(...delays)).toBeLessThan(1_000);
    } finally {
      stop.abort();
      await sender;
    }
  });

  it("the cloud's scheduled dispatcher sends callbacks while it repeats the maintenance, woken by the delivery", async () => {
    const running = dispatcher({ repeat_for_ms: 1_500, every_ms: 1_000 }, fakeContext('dispatcher'));
    await new Promise((r) => setTimeout(r, 300));
    const task = await newTask(`${base}/cloud`);
    await run(task.id);
    await waitUntil('the callback arrives', () => received.length === 1, 1_000, 5);
    expect(received[0]?.body).toMatchObject({ event: 'task.completed', task: { id: task.id } });
    await running;
  });

  it('gives up after CALLBACK_RETRY_FOR_MS and marks the delivery failed', async () => {
    const restore = withEnv({ CALLBACK_RETRY_FOR_MS: '0' });
    try {
      answers.set('/gone', [{ status: 410 }]);
      const task = await newTask(`${base}/gone`);
      await run(task.id);
      expect(await deliverDueCallbacks()).toBe(1);
      await new Promise((r) => setTimeout(r, 80));
      expect(await deliverDueCallbacks()).toBe(0);
      expect((await listCallbackDeliveries(app.db.db, task.id)).map((d) => [d.state, d.attempts])).toEqual([['failed', 1]]);
    } finally {
      restore();
    }
  });

  it('answers 404 for the callbacks of an unknown task', async () => {
    const res = await byId(callbacks, 'GET', '0b9f3c3e-1c59-4b43-9a0a-5a7d2f1f4a10', '/callbacks');
    expect(res.statusCode).toBe(404);
    expect(res.body).toMatchObject({ status: 404, detail: 'Task not found' });
  });
});

describe('callback_url validation', () => {
  const refusedAt = async (body: object) => {
    const res = await post({ title: 'bad', ...body });
    expect(res.statusCode).toBe(422);
    return res.body.errors;
  };

  it('takes http and https URLs of at most 1024 printable ASCII characters, refuses others with 422', async () => {
    for (const url of [
      'ftp://example.com/x',
      'example.com',
      'javascript:alert(1)',
      `https://example.com/${'a'.repeat(1010)}`,
      'https://example.com/ä',
      42,
    ]) {
      expect(await refusedAt({ callback_url: url })).toEqual([{ path: 'callback_url', message: expect.any(String) }]);
    }
    expect((await post({ title: 'ok', callback_url: `https://example.com/${'a'.repeat(1000)}` })).statusCode).toBe(201);
  });

  it('refuses callback_url on a deployed stage without CALLBACK_SECRET: callbacks are never sent unsigned', async () => {
    const restore = withEnv({ STAGE: 'dev', CALLBACK_SECRET: undefined });
    try {
      expect(await refusedAt({ callback_url: 'https://example.com/hook' })).toEqual([
        { path: 'callback_url', message: 'callbacks are not configured on this service (no CALLBACK_SECRET)' },
      ]);
      // Without a callback the task is created as ever.
      expect((await post({ title: 'no callback' })).statusCode).toBe(201);
    } finally {
      restore();
    }
  });

  it('refuses IP literals of non-public ranges at create time when private targets are not allowed', async () => {
    const restore = withEnv({ CALLBACK_ALLOW_PRIVATE: 'false' });
    try {
      for (const [url, range] of [
        ['http://127.0.0.1:8080/x', 'loopback'],
        ['http://[::1]/x', 'loopback'],
        ['http://10.0.0.1/x', 'private'],
        ['http://169.254.169.254/latest/meta-data', 'linkLocal'],
        ['http://[fd00:ec2::254]/', 'uniqueLocal'],
        ['http://100.64.0.1/', 'carrierGradeNat'],
        ['http://0.0.0.0/', 'unspecified'],
        ['http://[::ffff:10.0.0.1]/', 'private'],
      ] as const) {
        const errors = await refusedAt({ callback_url: url });
        expect(errors).toEqual([{ path: 'callback_url', message: expect.stringContaining(`is a ${range} address`) }]);
      }
      expect((await post({ title: 'public', callback_url: 'http://93.184.215.14/hook' })).statusCode).toBe(201);
    } finally {
      restore();
    }
  });
});

describe('callback targets at send time (CALLBACK_ALLOW_PRIVATE=false)', () => {
  it('refuses loopback, private, link-local targets and names resolving to them: each a failed attempt, nothing sent', async () => {
    // Created while every target is allowed, sent once the service allows public targets only.
    const allowAll = withEnv({ CALLBACK_ALLOW_PRIVATE: 'true' });
    const urls = [
      `${base}/a`,
      `http://[::1]:${port}/b`,
      'http://10.0.0.1/c',
      'http://169.254.169.254/latest/meta-data',
      `http://localhost:${port}/d`,
      'http://callbacks.example/e',
    ];
    const tasks = [];
    try {
      for (const url of urls) tasks.push(await newTask(url));
    } finally {
      allowAll();
    }
    await run(...tasks.map((t) => t.id));
    const restore = withEnv({ CALLBACK_ALLOW_PRIVATE: 'false' });
    try {
      // A resolver that answers one public and one private address for the made-up name: one bad address refuses it.
      const resolve = async (host: string) =>
        host === 'callbacks.example'
          ? [
              { address: '93.184.215.14', family: 4 },
              { address: '10.1.2.3', family: 4 },
            ]
          : (await import('#lib/tasks/callback-target')).systemResolver(host);
      expect(await deliverDueCallbacks({ resolve })).toBe(6);
      expect(received).toEqual([]);
      const errors = [];
      for (const t of tasks) {
        const items = (await callbackLog(t.id)).body.items;
        expect(items).toHaveLength(1);
        expect(items[0]).toMatchObject({ attempt: 1, status_code: null });
        errors.push(items[0].error);
      }
      expect(errors).toEqual([
        'refused: 127.0.0.1 is a loopback address (not allowed by CALLBACK_ALLOW_PRIVATE=false)',
        'refused: ::1 is a loopback address (not allowed by CALLBACK_ALLOW_PRIVATE=false)',
        'refused: 10.0.0.1 is a private address (not allowed by CALLBACK_ALLOW_PRIVATE=false)',
        'refused: 169.254.169.254 is a linkLocal address (not allowed by CALLBACK_ALLOW_PRIVATE=false)',
        expect.stringMatching(/^refused: localhost: (127\.0\.0\.1|::1) is a loopback address \(not allowed/),
        'refused: callbacks.example: 10.1.2.3 is a private address (not allowed by CALLBACK_ALLOW_PRIVATE=false)',
      ]);
      // Refused attempts are retried like any failure (the setting may change), until given up.
      expect((await listCallbackDeliveries(app.db.db, tasks[0]?.id as string))[0]?.state).toBe('pending');
    } finally {
      restore();
    }
  });

  it('with loopback allowed (the local stage default) a name resolving to loopback is sent to', async () => {
    const task = await newTask(`http://localhost:${port}/local`);
    await run(task.id);
    await deliverDueCallbacks();
    // (The earlier test's refused loopback deliveries, retried now that loopback is allowed, may arrive too.)
    expect(received.filter((r) => r.body.task.id === task.id).map((r) => r.path)).toEqual(['/local']);
  });
});
