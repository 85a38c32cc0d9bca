import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { beforeEach, describe, expect, it } from 'vitest';
import { insertQueuedTasks } from '#lib/db/tasks';
import { runDueSchedules } from '#lib/tasks/schedules';
import { handler as dispatcher } from '../../functions/dispatcher';
import { handler as notFound } from '../../functions/not-found';
import { handler as create } from '../../functions/schedules-create';
import { handler as remove } from '../../functions/schedules-delete';
import { handler as get } from '../../functions/schedules-get';
import { handler as list } from '../../functions/schedules-list';
import { handler as trigger } from '../../functions/schedules-trigger';
import { handler as update } from '../../functions/schedules-update';
import { handler as getTask } from '../../functions/tasks-get';
import { handler as listTasks } from '../../functions/tasks-list';
import { useTestApp } from '../helpers/app';
import { fakeContext, httpEvent, invoke } from '../helpers/lambda';

const app = useTestApp();

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const MISSING = '5c1d0a8e-7f0e-4c52-9d1b-3a2f6e9b8c41';

const post = (body: unknown) => invoke(create, httpEvent({ method: 'POST', path: '/api/v1/schedules', body: body as object }));
const byId = (handler: Parameters<typeof invoke>[0], method: string, id: string, suffix = '', body?: object) =>
  invoke(handler, httpEvent({ method, path: `/api/v1/schedules/${id}${suffix}`, pathParameters: { id }, body }));
const problem = (status: number, title: string, detail: string) => expect.objectContaining({ type: 'about:blank', status, title, detail });

let counter = 0;
/** A valid create body with a name of its own. */
const body = (over: Record<string, unknown> = {}) => ({
  name: `schedule-${++counter}`,
  cron: '*/5 * * * *',
  task: { title: 'Nightly report', payload: { duration_ms: 0 } },
  ...over,
});

/** Makes a schedule due: its next run `agoMs` in the past. */
async function makeDue(id: string, agoMs = 1_000) {
  await app.db.db.execute(sql`UPDATE schedules SET next_run_at = now() - make_interval(secs => ${agoMs / 1000}) WHERE id = ${id}`);
}

async function tasksOf(id: string) {
  const r = await app.db.db.execute<{ id: string; due_ms: number | null; status: string }>(
    sql`SELECT id, (extract(epoch FROM schedule_due_at) * 1000)::float8 AS due_ms, status FROM tasks WHERE schedule_id = ${id} ORDER BY schedule_due_at NULLS LAST`,
  );
  return r.rows.map(({ id, due_ms, status }) => ({ id, schedule_due_at: due_ms === null ? null : new Date(due_ms).toISOString(), status }));
}

describe('schedules API', () => {
  it('creates a schedule: 201, Location, the whole schedule with its defaults and its first due time', async () => {
    const before = Date.now();
    const res = await post({ name: '  every five  ', cron: '*/5 * * * *', task: { title: 'Report', payload: { duration_ms: 0 } } });
    expect(res.statusCode).toBe(201);
    expect(res.headers.location).toBe(`/api/v1/schedules/${res.body.id}`);
    expect(res.body).toEqual({
      id: expect.stringMatching(UUID),
      name: 'every five',
      cron: '*/5 * * * *',
      timezone: 'UTC',
      task: { type: 'emulate', title: 'Report', priority: 'MEDIUM', payload: { duration_ms: 0 } },
      enabled: true,
      next_run_at: expect.stringMatching(ISO),
      last_run_at: null,
      created_at: expect.stringMatching(ISO),
      updated_at: expect.stringMatching(ISO),
    });
    const next = new Date(res.body.next_run_at);
    expect(next.getTime()).toBeGreaterThan(before);
    expect(next.getTime()).toBeLessThanOrEqual(before + 5 * 60_000);
    expect(next.getUTCMinutes() % 5).toBe(0);
    expect(next.getUTCSeconds()).toBe(0);
    expect(await byId(get, 'GET', res.body.id)).toMatchObject({ statusCode: 200, body: res.body });
  });

  it('reads the cron expression in the time zone, and spells the zone as IANA does', async () => {
    const res = await post(body({ cron: '0 9 * * *', timezone: 'america/new_york' }));
    expect(res.statusCode).toBe(201);
    expect(res.body.timezone).toBe('America/New_York');
    const hour = new Intl.DateTimeFormat('en-US', { timeZone: 'America/New_York', hour: 'numeric', hourCycle: 'h23' }).format(
      new Date(res.body.next_run_at),
    );
    expect(Number(hour)).toBe(9);
  });

  it('422 for a bad cron expression or time zone, naming the field', async () => {
    const cases: Array<[Record<string, unknown>, Array<{ path: string; message: string }>]> = [
      [{ cron: '61 * * * *' }, [{ path: 'cron', message: 'Invalid value for minute: 61' }]],
      [{ cron: '* * * * * *' }, [{ path: 'cron', message: 'must have 5 fields: minute hour day-of-month month day-of-week' }]],
      [{ cron: '@hourly' }, [{ path: 'cron', message: 'must have 5 fields: minute hour day-of-month month day-of-week' }]],
      [{ cron: '0 0 30 2 *' }, [{ path: 'cron', message: 'never matches a time' }]],
      [{ timezone: 'Mars/Olympus_Mons' }, [{ path: 'timezone', message: 'must be an IANA time zone name such as Europe/Berlin or UTC' }]],
      [{ timezone: '+02:00' }, [{ path: 'timezone', message: 'must be an IANA time zone name such as Europe/Berlin or UTC' }]],
      [{ cron: 5 }, [{ path: 'cron', message: expect.any(String) }]],
    ];
    for (const [over, errors] of cases) {
      const res = await post(body(over));
      expect(res.statusCode, JSON.stringify(over)).toBe(422);
      expect(res.headers['content-type']).toContain('application/problem+json');
      expect(res.body.errors).toEqual(errors);
    }
  });

  it('422 for a task body that is not a valid create body, its paths under task', async () => {
    const noTitle = await post(body({ task: { payload: {} } }));
    expect(noTitle.statusCode).toBe(422);
    expect(noTitle.body.errors).toEqual([{ path: 'task.title', message: expect.any(String) }]);
    const badPayload = await post(body({ task: { title: 'x', type: 'checksum', payload: {} } }));
    expect(badPayload.statusCode).toBe(422);
    expect(badPayload.body.errors).toEqual([{ path: 'task.payload.text', message: expect.any(String) }]);
    const badType = await post(body({ task: { title: 'x', type: 'no-such-type' } }));
    expect(badType.statusCode).toBe(422);
    expect(badType.body.errors).toEqual([{ path: 'task.type', message: expect.stringContaining("unknown task type 'no-such-type'") }]);
    const missing = await post({ cron: '* * * * *' });
    expect(missing.statusCode).toBe(422);
    expect(missing.body.errors.map((e: { path: string }) => e.path).sort()).toEqual(['name', 'task']);
  });

  it('409 for a name in use, on create and on rename', async () => {
    const a = await post(body({ name: 'unique-a' }));
    const b = await post(body({ name: 'unique-b' }));
    const again = await post(body({ name: 'unique-a' }));
    expect(again.statusCode).toBe(409);
    expect(again.body).toEqual(problem(409, 'Conflict', "A schedule named 'unique-a' exists already"));
    const rename = await byId(update, 'PATCH', b.body.id, '', { name: 'unique-a' });
    expect(rename.statusCode).toBe(409);
    expect((await byId(get, 'GET', b.body.id)).body.name).toBe('unique-b');
    expect((await byId(update, 'PATCH', a.body.id, '', { name: 'unique-a' })).statusCode).toBe(200);
  });

  it('404 Schedule not found for an unknown id on every route, 422 for an id that is no UUID', async () => {
    for (const [handler, method, suffix, payload] of [
      [get, 'GET', '', undefined],
      [update, 'PATCH', '', { enabled: false }],
      [remove, 'DELETE', '', undefined],
      [trigger, 'POST', '/trigger', undefined],
    ] as const) {
      const res = await byId(handler, method, MISSING, suffix, payload);
      expect(res.statusCode, `${method}${suffix}`).toBe(404);
      expect(res.body).toEqual(problem(404, 'Not Found', 'Schedule not found'));
      const bad = await byId(handler, method, 'nope', suffix, payload);
      expect(bad.statusCode).toBe(422);
      expect(bad.body.errors).toEqual([{ path: 'id', message: 'must be a UUID' }]);
    }
  });

  it('lists schedules newest first in the envelope of the task list, with limit and offset', async () => {
    const first = await post(body());
    const second = await post(body());
    const page = await invoke(list, httpEvent({ method: 'GET', path: '/api/v1/schedules', query: { limit: '1' } }));
    expect(page.statusCode).toBe(200);
    expect(page.body).toEqual({ items: [second.body], total: expect.any(Number), limit: 1, offset: 0 });
    const total = page.body.total;
    expect(total).toBeGreaterThanOrEqual(2);
    const next = await invoke(list, httpEvent({ method: 'GET', path: '/api/v1/schedules', query: { limit: '1', offset: '1' } }));
    expect(next.body).toEqual({ items: [first.body], total, limit: 1, offset: 1 });
    const all = await invoke(list, httpEvent({ method: 'GET', path: '/api/v1/schedules' }));
    expect(all.body).toMatchObject({ total, limit: 20, offset: 0 });
    const bad = await invoke(list, httpEvent({ method: 'GET', path: '/api/v1/schedules', query: { limit: '0', offset: 'x' } }));
    expect(bad.statusCode).toBe(422);
    expect(bad.body.errors).toEqual([
      { path: 'limit', message: 'must be at least 1' },
      { path: 'offset', message: 'must be a whole number' },
    ]);
  });

  it('answers a path with a trailing slash as the path without it', async () => {
    const created = await invoke(
      notFound,
      httpEvent({ method: 'POST', path: '/api/v1/schedules/', routeKey: '$default', body: body({ cron: 'nope' }) }),
    );
    expect(created.statusCode).toBe(422);
    expect(created.body.errors).toEqual([{ path: 'cron', message: 'must have 5 fields: minute hour day-of-month month day-of-week' }]);
    const listed = await invoke(notFound, httpEvent({ method: 'GET', path: '/api/v1/schedules/', routeKey: '$default' }));
    expect(listed.statusCode).toBe(200);
    expect(listed.body).toMatchObject({ limit: 20, offset: 0 });
    const one = await invoke(notFound, httpEvent({ method: 'GET', path: `/api/v1/schedules/${MISSING}/`, routeKey: '$default' }));
    expect(one.body).toEqual(problem(404, 'Not Found', 'Schedule not found'));
    const fired = await invoke(
      notFound,
      httpEvent({ method: 'POST', path: `/api/v1/schedules/${MISSING}/trigger/`, routeKey: '$default' }),
    );
    expect(fired.statusCode).toBe(404);
  });

  it('PATCH: disabling clears next_run_at, enabling and a new cron count from now, a rename leaves the timing', async () => {
    const s = (await post(body({ cron: '0 0 1 1 *' }))).body;
    const renamed = await byId(update, 'PATCH', s.id, '', { name: `${s.name}-renamed` });
    expect(renamed.statusCode).toBe(200);
    expect(renamed.body).toEqual({ ...s, name: `${s.name}-renamed`, updated_at: expect.stringMatching(ISO) });
    const disabled = await byId(update, 'PATCH', s.id, '', { enabled: false });
    expect(disabled.body).toMatchObject({ enabled: false, next_run_at: null });
    const enabled = await byId(update, 'PATCH', s.id, '', { enabled: true, cron: '* * * * *' });
    expect(enabled.body).toMatchObject({ enabled: true, cron: '* * * * *' });
    expect(new Date(enabled.body.next_run_at).getTime() - Date.now()).toBeLessThanOrEqual(60_000);
    const retask = await byId(update, 'PATCH', s.id, '', { task: { title: 'Other', type: 'checksum', payload: { text: 'a' } } });
    expect(retask.body.task).toEqual({ type: 'checksum', title: 'Other', priority: 'MEDIUM', payload: { text: 'a' } });
    expect(retask.body.next_run_at).toBe(enabled.body.next_run_at);
    const empty = await byId(update, 'PATCH', s.id, '', {});
    expect(empty.statusCode).toBe(422);
    const bad = await byId(update, 'PATCH', s.id, '', { timezone: 'Nowhere/Land', cron: '1 2 3' });
    expect(bad.statusCode).toBe(422);
    expect(bad.body.errors.map((e: { path: string }) => e.path)).toEqual(['cron', 'timezone']);
  });

  it('DELETE: 204, then 404; the tasks it created stay, their schedule_id null', async () => {
    const s = (await post(body())).body;
    const fired = await byId(trigger, 'POST', s.id, '/trigger');
    const res = await byId(remove, 'DELETE', s.id);
    expect(res).toMatchObject({ statusCode: 204, body: '' });
    expect((await byId(get, 'GET', s.id)).statusCode).toBe(404);
    expect((await byId(remove, 'DELETE', s.id)).statusCode).toBe(404);
    const task = await invoke(
      getTask,
      httpEvent({ method: 'GET', path: `/api/v1/tasks/${fired.body.id}`, pathParameters: { id: fired.body.id } }),
    );
    expect(task.body).toMatchObject({ id: fired.body.id, schedule_id: null });
  });
});

describe('running schedules', () => {
  // Each test counts the tasks a tick makes: the schedules of the tests before it (every minute, most of them) would
  // be due again whenever a minute begins between two of them.
  beforeEach(async () => {
    await app.db.db.execute(sql`UPDATE schedules SET enabled = false, next_run_at = NULL`);
  });

  it('trigger: 201 with a queued task that carries schedule_id; the next due time stays', async () => {
    const s = (await post(body({ cron: '0 0 1 1 *', task: { title: 'By hand', priority: 'HIGH', payload: { duration_ms: 0 } } }))).body;
    const res = await byId(trigger, 'POST', s.id, '/trigger');
    expect(res.statusCode).toBe(201);
    expect(res.headers.location).toBe(`/api/v1/tasks/${res.body.id}`);
    expect(res.body).toMatchObject({ title: 'By hand', priority: 'HIGH', status: 'PENDING', schedule_id: s.id });
    const after = (await byId(get, 'GET', s.id)).body;
    expect(after).toMatchObject({ next_run_at: s.next_run_at, last_run_at: expect.stringMatching(ISO) });
    expect(await tasksOf(s.id)).toEqual([{ id: res.body.id, schedule_due_at: null, status: 'PENDING' }]);
    // Triggered twice: two tasks (runs by hand have no due time to be unique on).
    expect((await byId(trigger, 'POST', s.id, '/trigger')).statusCode).toBe(201);
    expect(await tasksOf(s.id)).toHaveLength(2);
    // The task list filters by schedule.
    const listed = await invoke(listTasks, httpEvent({ method: 'GET', path: '/api/v1/tasks', query: { schedule_id: s.id.toUpperCase() } }));
    expect(listed.statusCode).toBe(200);
    expect(listed.body).toMatchObject({ total: 2, items: [{ schedule_id: s.id }, { id: res.body.id, schedule_id: s.id }] });
    const bad = await invoke(listTasks, httpEvent({ method: 'GET', path: '/api/v1/tasks', query: { schedule_id: 'x' } }));
    expect(bad.statusCode).toBe(422);
    expect(bad.body.errors).toEqual([{ path: 'schedule_id', message: 'must be a UUID' }]);
  });

  // Hourly schedules: an every-minute one would fall due for real if a minute began between two of a test's steps.
  it('a due schedule gets one task for its due time, and next_run_at moves to the next one', async () => {
    const s = (await post(body({ cron: '0 * * * *' }))).body;
    expect(await runDueSchedules()).toBe(0);
    await makeDue(s.id);
    const due = (await byId(get, 'GET', s.id)).body.next_run_at;
    expect(await runDueSchedules()).toBe(1);
    const [task] = await tasksOf(s.id);
    expect(task).toEqual({ id: expect.stringMatching(UUID), schedule_due_at: due, status: 'PENDING' });
    const got = await invoke(
      getTask,
      httpEvent({ method: 'GET', path: `/api/v1/tasks/${task?.id}`, pathParameters: { id: task?.id as string } }),
    );
    expect(got.body).toMatchObject({ title: 'Nightly report', payload: { duration_ms: 0 }, schedule_id: s.id, status: 'PENDING' });
    const after = (await byId(get, 'GET', s.id)).body;
    expect(new Date(after.next_run_at).getTime()).toBeGreaterThan(Date.now());
    expect(after.last_run_at).toEqual(expect.stringMatching(ISO));
    expect(await runDueSchedules()).toBe(0);
  });

  it('due times missed while nothing ran make ONE catch-up run, then the next due time is in the future', async () => {
    const s = (await post(body({ cron: '0 * * * *' }))).body;
    await makeDue(s.id, 3 * 86_400_000); // three days of missed hours
    const due = (await byId(get, 'GET', s.id)).body.next_run_at;
    expect(await runDueSchedules()).toBe(1);
    expect(await tasksOf(s.id)).toEqual([{ id: expect.any(String), schedule_due_at: due, status: 'PENDING' }]);
    const next = new Date((await byId(get, 'GET', s.id)).body.next_run_at).getTime();
    expect(next).toBeGreaterThan(Date.now());
    expect(next).toBeLessThanOrEqual(Date.now() + 3_600_000);
    expect(await runDueSchedules()).toBe(0);
  });

  it('concurrent ticks create exactly one task per due time', async () => {
    // A yearly cron: the only due times are the ones each round sets.
    const schedules = await Promise.all(Array.from({ length: 30 }, () => post(body({ cron: '0 0 1 1 *' }))));
    const ids = schedules.map((r) => r.body.id as string);
    for (let round = 1; round <= 3; round++) {
      // Each round a different due time (minutes apart), due for every schedule.
      await app.db.db.execute(
        sql`UPDATE schedules SET next_run_at = date_trunc('minute', now()) - make_interval(mins => ${10 * round}) WHERE id = ANY(${`{${ids.join(',')}}`}::uuid[])`,
      );
      const created = await Promise.all(Array.from({ length: 8 }, () => runDueSchedules()));
      expect(created.reduce((a, b) => a + b, 0)).toBe(ids.length);
      const counts = await app.db.db.execute<{ n: string; due: string }>(
        sql`SELECT count(*) AS n, count(DISTINCT schedule_due_at) AS due FROM tasks WHERE schedule_id = ANY(${`{${ids.join(',')}}`}::uuid[])`,
      );
      expect(counts.rows[0]).toEqual({ n: String(ids.length * round), due: String(round) });
    }
    for (const id of ids) expect(await tasksOf(id)).toHaveLength(3);
  });

  it('the database refuses a second task for the same due time of a schedule', async () => {
    const s = (await post(body())).body;
    const due = new Date('2026-01-01T00:00:00Z');
    const task = (id: string) => ({
      id,
      type: 'emulate',
      title: 't',
      description: null,
      priority: 'MEDIUM' as const,
      payload: {},
      max_attempts: 1,
      timeout_ms: null,
      idempotency_key: null,
      request_hash: null,
      schedule_id: s.id,
      schedule_due_at: due,
    });
    const first = await insertQueuedTasks(app.db.db, [task(randomUUID())], 60_000);
    expect(first.size).toBe(1);
    const second = await insertQueuedTasks(app.db.db, [task(randomUUID())], 60_000);
    expect(second.size).toBe(0);
    await expect(
      app.db.db.execute(sql`INSERT INTO tasks (type, title, schedule_id, schedule_due_at) VALUES ('emulate', 't', ${s.id}, ${due})`),
    ).rejects.toMatchObject({ cause: expect.objectContaining({ code: '23505' }) });
    expect(await tasksOf(s.id)).toHaveLength(1);
  });

  it('a disabled schedule does not run; one whose task no longer validates skips the run and moves on', async () => {
    const off = (await post(body({ cron: '* * * * *', enabled: false }))).body;
    expect(off).toMatchObject({ enabled: false, next_run_at: null });
    const broken = (await post(body({ cron: '* * * * *' }))).body;
    await app.db.db.execute(sql`UPDATE schedules SET task = '{"title": "x", "type": "gone"}' WHERE id = ${broken.id}`);
    await makeDue(broken.id);
    await app.db.db.execute(sql`UPDATE schedules SET next_run_at = now() - interval '1 minute' WHERE id = ${off.id}`);
    expect(await runDueSchedules()).toBe(0);
    expect(await tasksOf(off.id)).toEqual([]);
    expect(await tasksOf(broken.id)).toEqual([]);
    const after = (await byId(get, 'GET', broken.id)).body;
    expect(new Date(after.next_run_at).getTime()).toBeGreaterThan(Date.now());
    expect(after.last_run_at).toBeNull();
    const fired = await byId(trigger, 'POST', broken.id, '/trigger');
    expect(fired.statusCode).toBe(409);
    expect(fired.body.detail).toMatch(/^The schedule's task no longer fits its task type \(task\.type: unknown task type 'gone'/);
    expect(await tasksOf(broken.id)).toEqual([]);
  });

  it('the dispatcher function runs the scheduler tick', async () => {
    const s = (await post(body({ cron: '* * * * *' }))).body;
    await makeDue(s.id);
    const res = (await dispatcher({}, fakeContext())) as { published: number; scheduled: number };
    expect(res.scheduled).toBe(1);
    expect(await tasksOf(s.id)).toHaveLength(1);
  });
});
