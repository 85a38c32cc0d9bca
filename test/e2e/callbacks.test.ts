import { createHmac } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitUntil } from '#lib/time';
import { request, useService } from '../helpers/offline';

// Callbacks under the local stack as `npm start` runs it: serverless-offline, and the bridge process, whose callback
// sender listens for new deliveries. Measures the time from a task's end (its finished_at) to the callback's receipt.

const SECRET = 'e2e-callback-secret-0123456789';

interface Received {
  at: number;
  raw: string;
  headers: http.IncomingHttpHeaders;
  body: { event: string; task: { id: string; status: string; finished_at: string } };
}
const received: Received[] = [];
let server: http.Server;
let base: string;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const at = Date.now();
      const raw = Buffer.concat(chunks).toString('utf8');
      received.push({ at, raw, headers: req.headers, body: JSON.parse(raw) });
      // Every first attempt at /flaky fails: its retry comes after CALLBACK_RETRY_BASE_MS.
      const flaky = req.url === '/flaky' && received.filter((r) => r.headers['x-task-id'] === req.headers['x-task-id']).length === 1;
      res.writeHead(flaky ? 503 : 200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;

describe('callbacks through the local stack', () => {
  const svc = useService({
    bridge: true,
    env: {
      CALLBACK_SECRET: SECRET,
      CALLBACK_RETRY_BASE_MS: '300',
      WORKER_CONCURRENCY: '4',
      WORKER_BATCH_SIZE: '5',
      OUTBOX_INTERVAL_MS: '1000',
    },
  });
  const call = (method: string, path: string, body?: unknown) => request(svc.baseUrl, method, path, body);

  it('delivers every end of a task, signed, within moments of finished_at; retries; the log route answers', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 30; i++) {
      const res = await call('POST', '/api/v1/tasks', {
        title: `callback ${i}`,
        payload: { duration_ms: 50 + (i % 5) * 40, failure_rate: i % 10 === 9 ? 1 : 0 },
        callback_url: `${base}/hook`,
      });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      ids.push(res.body.id);
    }
    const flaky = await call('POST', '/api/v1/tasks', {
      title: 'flaky receiver',
      // (failure_rate 0: emulate's default fails one run in five, which would add a task.failed callback.)
      payload: { duration_ms: 0, failure_rate: 0 },
      callback_url: `${base}/flaky`,
    });
    expect(flaky.status).toBe(201);

    await waitUntil('every callback arrives', () => ids.every((id) => received.some((r) => r.body.task.id === id)), 60_000, 20);
    const delays = ids
      .map((id) => received.find((r) => r.body.task.id === id) as Received)
      .map((r) => r.at - Date.parse(r.body.task.finished_at))
      .sort((a, b) => a - b);
    console.log(
      `callback delay from finished_at to receipt, ${delays.length} tasks: p50 ${percentile(delays, 50)} ms, p90 ${percentile(delays, 90)} ms, max ${delays.at(-1)} ms`,
    );
    expect(delays.at(-1)).toBeLessThan(2_000);

    for (const r of received.filter((x) => ids.includes(x.body.task.id))) {
      expect(r.headers['x-signature']).toBe(`sha256=${createHmac('sha256', SECRET).update(r.raw).digest('hex')}`);
      expect(r.headers['x-task-id']).toBe(r.body.task.id);
      expect(r.body.event).toBe(r.body.task.status === 'COMPLETED' ? 'task.completed' : 'task.failed');
    }
    expect(received.filter((r) => r.body.event === 'task.failed')).toHaveLength(3);

    // The flaky receiver answered 503 once; the retry came after the backoff, with the same delivery id.
    await waitUntil('the flaky callback is retried', () => received.filter((r) => r.body.task.id === flaky.body.id).length === 2, 10_000);
    const log = await call('GET', `/api/v1/tasks/${flaky.body.id}/callbacks`);
    expect(log.status).toBe(200);
    const attempt = (n: number, status_code: number, error: string | null) => ({
      delivery_id: log.body.items[0]?.delivery_id,
      event: 'task.completed',
      attempt: n,
      at: expect.any(String),
      status_code,
      error,
      duration_ms: expect.any(Number),
    });
    expect(log.body).toEqual({ items: [attempt(1, 503, 'answered 503'), attempt(2, 200, null)] });
    expect(received.filter((r) => r.body.task.id === flaky.body.id).map((r) => r.headers['x-delivery-id'])).toEqual([
      log.body.items[0]?.delivery_id,
      log.body.items[0]?.delivery_id,
    ]);
    expect((await call('GET', '/api/v1/tasks/0b9f3c3e-1c59-4b43-9a0a-5a7d2f1f4a10/callbacks')).status).toBe(404);
  });

  it('a cancelled task gets its callback too', async () => {
    const res = await call('POST', '/api/v1/tasks', { title: 'to cancel', payload: { duration_ms: 20_000 }, callback_url: `${base}/hook` });
    expect(res.status).toBe(201);
    const cancelled = await call('DELETE', `/api/v1/tasks/${res.body.id}`);
    expect(cancelled.status).toBe(200);
    await waitUntil('the cancel callback arrives', () => received.some((r) => r.body.task.id === res.body.id), 5_000);
    const r = received.find((x) => x.body.task.id === res.body.id) as Received;
    expect(r.body).toMatchObject({ event: 'task.cancelled', task: { status: 'CANCELLED' } });
    expect(r.at - Date.parse(r.body.task.finished_at)).toBeLessThan(2_000);
  });
});
