import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request, useService } from '../helpers/offline';

type Task = { id: string; status: string; schedule_id: string | null; created_at: string; [k: string]: unknown };

// The local stack as `npm start` runs it (serverless-offline and the bridge, the dispatcher every OUTBOX_INTERVAL_MS
// at its default of 3 s): a schedule's due time creates its task within about SCHEDULE_TICK_MS (1 s), and it runs.
describe('recurring schedules under the local stack', () => {
  const svc = useService({ bridge: true, env: { WORKER_CONCURRENCY: '2', WORKER_BATCH_SIZE: '1' } });
  const call = (method: string, path: string, body?: unknown) => request(svc.baseUrl, method, path, body);
  let client: pg.Client;
  beforeAll(async () => {
    client = new pg.Client({ connectionString: svc.databaseUrl });
    await client.connect();
  });
  afterAll(async () => client?.end());

  const tasksOf = async (scheduleId: string): Promise<Task[]> => {
    const { rows } = await client.query<{ id: string }>('SELECT id FROM tasks WHERE schedule_id = $1 ORDER BY created_at', [scheduleId]);
    return Promise.all(rows.map(async ({ id }) => (await call('GET', `/api/v1/tasks/${id}`)).body as Task));
  };

  it('a due time creates one task within about a second, and the task runs to COMPLETED', async () => {
    const created = await call('POST', '/api/v1/schedules', {
      name: 'new-year',
      cron: '0 0 1 1 *',
      timezone: 'Europe/Berlin',
      task: { title: 'Scheduled run', payload: { duration_ms: 0, failure_rate: 0 } },
    });
    expect(created.status, created.text).toBe(201);
    const id = created.body.id as string;
    // Due a little from now rather than at new year; three times, at different fractions of a second. With only the
    // dispatcher's 3 s cadence a task would often come 2 s late or more.
    const late: number[] = [];
    for (const offsetMs of [2_000, 2_333, 2_667]) {
      const { rows } = await client.query<{ due: Date }>(
        `UPDATE schedules SET next_run_at = date_trunc('milliseconds', now() + make_interval(secs => $2)) WHERE id = $1 RETURNING next_run_at AS due`,
        [id, offsetMs / 1000],
      );
      const due = (rows[0] as { due: Date }).due;
      await expect.poll(async () => (await tasksOf(id)).length, { timeout: 10_000, interval: 100 }).toBe(late.length + 1);
      const task = (await tasksOf(id)).at(-1) as Task;
      late.push(new Date(task.created_at).getTime() - due.getTime());
      const schedule = (await call('GET', `/api/v1/schedules/${id}`)).body;
      expect(new Date(schedule.next_run_at).getTime()).toBeGreaterThan(Date.now());
      expect(schedule.last_run_at).not.toBeNull();
    }
    console.info(`schedule e2e: tasks created ${late.join(', ')} ms after their due times`);
    for (const ms of late) {
      expect(ms).toBeGreaterThanOrEqual(0);
      expect(ms).toBeLessThan(2_000);
    }
    await expect
      .poll(async () => (await tasksOf(id)).map((t) => t.status), { timeout: 15_000, interval: 200 })
      .toEqual(['COMPLETED', 'COMPLETED', 'COMPLETED']);
    expect((await tasksOf(id)).every((t) => t.schedule_id === id && t.title === 'Scheduled run')).toBe(true);
  });

  it('trigger runs the schedule once now; the answer is the task, which completes', async () => {
    const created = await call('POST', '/api/v1/schedules/', {
      name: 'yearly',
      cron: '0 0 1 1 *',
      task: { title: 'By hand', payload: { duration_ms: 0, failure_rate: 0 } },
    });
    expect(created.status, created.text).toBe(201);
    const fired = await call('POST', `/api/v1/schedules/${created.body.id}/trigger`);
    expect(fired.status, fired.text).toBe(201);
    expect(fired.body).toMatchObject({ title: 'By hand', schedule_id: created.body.id, status: 'PENDING' });
    await expect
      .poll(async () => (await call('GET', `/api/v1/tasks/${fired.body.id}`)).body.status, { timeout: 15_000, interval: 200 })
      .toBe('COMPLETED');
    const list = await call('GET', '/api/v1/schedules?limit=10');
    expect(list.body).toMatchObject({ total: 2, limit: 10, offset: 0 });
    expect(list.body.items.map((s: { name: string }) => s.name)).toEqual(['yearly', 'new-year']);
  });
});
