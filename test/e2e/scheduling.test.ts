import { describe, expect, it } from 'vitest';
import { request, useService } from '../helpers/offline';

type Task = { id: string; status: string; run_at: string | null; started_at: string | null; [k: string]: unknown };

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] as number;

// As `npm start` runs: serverless-offline, the bridge (with its releaser) on the embedded queue, the default worker
// concurrency and batch size.
describe('scheduled tasks under serverless-offline and the bridge', () => {
  const svc = useService({ bridge: true });
  const call = (method: string, path: string, body?: unknown) => request(svc.baseUrl, method, path, body);

  it('starts each of 50 tasks scheduled 1-3 s ahead within 1 s of its run_at (slots free); ?wait= answers when they end', async () => {
    // A warm service, as one that has been running: the first run of each concurrent instance of a function loads
    // its bundle, which takes a good part of a second. Runs that overlap warm every lane's instance.
    const warm = await call('POST', '/api/v1/tasks/batch', {
      tasks: Array.from({ length: 8 }, (_, i) => ({ title: `warm-up ${i}`, payload: { duration_ms: 300, failure_rate: 0 } })),
    });
    for (const t of warm.body.items as Task[]) expect((await call('GET', `/api/v1/tasks/${t.id}?wait=20`)).body.status).toBe('COMPLETED');

    const base = Date.now() + 1_000;
    const runAts = Array.from({ length: 50 }, (_, i) => new Date(base + Math.round((i * 2_000) / 49)).toISOString());
    const created = await call('POST', '/api/v1/tasks/batch', {
      tasks: runAts.map((run_at, i) => ({ title: `at ${i}`, run_at, payload: { duration_ms: 0, failure_rate: 0 } })),
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const tasks = created.body.items as Task[];
    expect(tasks.map((t) => [t.status, t.run_at])).toEqual(runAts.map((r) => ['SCHEDULED', r]));

    const done = await Promise.all(tasks.map(async (t) => (await call('GET', `/api/v1/tasks/${t.id}?wait=15`)).body as Task));
    expect(done.map((t) => t.status)).toEqual(tasks.map(() => 'COMPLETED'));
    const lateMs = done.map((t) => Date.parse(t.started_at as string) - Date.parse(t.run_at as string)).sort((a, b) => a - b);
    console.info(
      `start precision (started_at - run_at) of ${lateMs.length} tasks: p50 ${quantile(lateMs, 0.5)} ms, p99 ${quantile(lateMs, 0.99)} ms, min ${lateMs[0]} ms, max ${lateMs.at(-1)} ms`,
    );
    if (process.env.SCHEDULING_DEBUG) {
      for (const t of done) {
        const ev = (await call('GET', `/api/v1/tasks/${t.id}/events`)).body.items as Array<{ to_status: string; at: string }>;
        const at = (s: string) => Date.parse(ev.find((e) => e.to_status === s)?.at as string) - Date.parse(t.run_at as string);
        console.info(t.title, 'released', at('PENDING'), 'started', at('IN_PROGRESS'), 'finished', at('COMPLETED'));
      }
    }
    expect(lateMs[0]).toBeGreaterThanOrEqual(0);
    expect(lateMs.at(-1)).toBeLessThan(1_000);
  });
});
