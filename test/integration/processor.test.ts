import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'drizzle-orm';
import pg from 'pg';
import { describe, expect, it, vi } from 'vitest';
import { queue } from '#lib/queue/client';
import { toRabbitMqEvent, toSqsEvent } from '#lib/queue/events';
import type { ReceivedMessage } from '#lib/queue/types';
import { cancelTask, createTask, retryTask } from '#lib/tasks/commands';
import { searchDeadLetters } from '#lib/tasks/dead-letters';
import { getTask, getTaskEvents } from '#lib/tasks/queries';
import { handler as intake } from '../../functions/intake';
import { handler as processor } from '../../functions/processor';
import { useTestApp } from '../helpers/app';
import { fakeContext } from '../helpers/lambda';
import { expectOnlyAllowedMoves } from '../helpers/moves';

const app = useTestApp({ RETRY_BASE_MS: '10', RETRY_MAX_MS: '20', CANCEL_CHECK_MS: '100' });

let seq = 0;
const message = (body: string): ReceivedMessage => ({ id: `m${++seq}`, body, priority: 5, receiveCount: 1 });
const runTasks = (...bodies: string[]) => processor(toSqsEvent('tasks', bodies.map(message)), fakeContext('processor'));
const forTask = (id: string) => JSON.stringify({ task_id: id });
const newTask = async (payload: Record<string, unknown>, extra: { max_attempts?: number } = {}) =>
  (await createTask({ type: 'emulate', title: 't', priority: 'MEDIUM', payload, ...extra })).task;
/** The dead letters of a queue, oldest first, as the API shows them; removes them. */
async function takeDeadLetters(name: 'tasks' | 'task_intake') {
  const { items } = await searchDeadLetters({ queue: name, limit: 100, offset: 0 });
  await app.db.db.execute(sql`DELETE FROM dead_letters WHERE queue = ${name}`);
  return items.reverse();
}
const statuses = async (id: string) => (await getTaskEvents(id)).items.map((e) => e.to_status);

describe('the processor function', () => {
  it('runs a task to COMPLETED and acknowledges the message', async () => {
    const task = await newTask({ duration_ms: 30, failure_rate: 0 });
    expect(await runTasks(forTask(task.id))).toEqual({ batchItemFailures: [] });
    const done = await getTask(task.id);
    expect(done).toMatchObject({ status: 'COMPLETED', result: { slept_ms: 30 }, progress: 100, attempts: 1, error: null });
    expect(done.started_at).not.toBeNull();
    expect(done.finished_at).not.toBeNull();
    expect(await statuses(task.id)).toEqual(['NEW', 'PENDING', 'IN_PROGRESS', 'COMPLETED']);
  });

  it('takes the Amazon MQ (RabbitMQ) event shape too', async () => {
    const task = await newTask({ duration_ms: 0, failure_rate: 0 });
    const res = await processor(toRabbitMqEvent('tasks', [message(forTask(task.id))]), fakeContext('processor'));
    expect(res).toEqual({ batchItemFailures: [] });
    expect((await getTask(task.id)).status).toBe('COMPLETED');
  });

  it('runs the tasks of a batch side by side: ten tasks of 500 ms in one invocation take under 2 s, not 5', async () => {
    const tasks = await Promise.all(Array.from({ length: 10 }, () => newTask({ duration_ms: 500, failure_rate: 0 })));
    const started = Date.now();
    expect(await runTasks(...tasks.map((t) => forTask(t.id)))).toEqual({ batchItemFailures: [] });
    expect(Date.now() - started).toBeLessThan(2_000);
    expect((await Promise.all(tasks.map((t) => getTask(t.id)))).map((t) => t.status)).toEqual(Array(10).fill('COMPLETED'));
  });

  it('runs a task once when the same message arrives five times in one batch', async () => {
    const task = await newTask({ duration_ms: 50, failure_rate: 0 });
    const body = forTask(task.id);
    expect(await runTasks(body, body, body, body, body)).toEqual({ batchItemFailures: [] });
    expect(await statuses(task.id)).toEqual(['NEW', 'PENDING', 'IN_PROGRESS', 'COMPLETED']);
    expect((await getTask(task.id)).attempts).toBe(1);
  });

  it('records FAILED with the error when the type throws', async () => {
    const task = await newTask({ duration_ms: 0, failure_rate: 1 });
    await takeDeadLetters('tasks');
    await runTasks(forTask(task.id));
    expect(await getTask(task.id)).toMatchObject({ status: 'FAILED', error: 'Emulated failure (failure_rate 1)', attempts: 1 });
    // The last failed attempt leaves a dead letter naming the task and the error.
    expect(await takeDeadLetters('tasks')).toEqual([
      {
        id: expect.any(String),
        queue: 'tasks',
        task_id: task.id,
        reason: `task ${task.id} failed after 1 attempt(s): Emulated failure (failure_rate 1)`,
        body: forTask(task.id),
        failed_at: expect.any(String),
        receive_count: 1,
      },
    ]);
  });

  it('puts a failed attempt with attempts left back in the queue with a delay, then fails for good', async () => {
    const task = await newTask({ duration_ms: 0, failure_rate: 1 }, { max_attempts: 2 });
    await queue().purge('tasks');
    await runTasks(forTask(task.id));
    expect(await getTask(task.id)).toMatchObject({ status: 'PENDING', attempts: 1, error: 'Emulated failure (failure_rate 1)' });
    expect(await queue().depth('tasks')).toBe(1);
    await runTasks(forTask(task.id));
    expect(await getTask(task.id)).toMatchObject({ status: 'FAILED', attempts: 2 });
    expect(await statuses(task.id)).toEqual(['NEW', 'PENDING', 'IN_PROGRESS', 'PENDING', 'IN_PROGRESS', 'FAILED']);
  });

  it("keeps each failed attempt's number and error on its event, null on the others", async () => {
    const task = await newTask({ duration_ms: 0, failure_rate: 1 }, { max_attempts: 2 });
    await runTasks(forTask(task.id));
    await runTasks(forTask(task.id));
    const error = 'Emulated failure (failure_rate 1)';
    const events = (await getTaskEvents(task.id)).items.map(({ from_status, to_status, attempt, error }) => ({
      from_status,
      to_status,
      attempt,
      error,
    }));
    expect(events).toEqual([
      { from_status: null, to_status: 'NEW', attempt: null, error: null },
      { from_status: 'NEW', to_status: 'PENDING', attempt: null, error: null },
      { from_status: 'PENDING', to_status: 'IN_PROGRESS', attempt: null, error: null },
      { from_status: 'IN_PROGRESS', to_status: 'PENDING', attempt: 1, error },
      { from_status: 'PENDING', to_status: 'IN_PROGRESS', attempt: null, error: null },
      { from_status: 'IN_PROGRESS', to_status: 'FAILED', attempt: 2, error },
    ]);
    // The task's own error is the last attempt's; the first one's stays in its event after the next claim cleared it.
    expect(await getTask(task.id)).toMatchObject({ status: 'FAILED', error });
  });

  it('skips a cancelled task without running it', async () => {
    const task = await newTask({ duration_ms: 0, failure_rate: 0 });
    await cancelTask(task.id);
    expect(await runTasks(forTask(task.id))).toEqual({ batchItemFailures: [] });
    expect(await getTask(task.id)).toMatchObject({ status: 'CANCELLED', attempts: 0, started_at: null });
  });

  it('drops a message whose task is still NEW, leaving the task to its outbox row (no redelivery loop)', async () => {
    const task = await newTask({ duration_ms: 0, failure_rate: 0 });
    await app.db.db.execute(sql`UPDATE tasks SET status = 'NEW' WHERE id = ${task.id}`);
    expect(await runTasks(forTask(task.id))).toEqual({ batchItemFailures: [] });
    expect(await getTask(task.id)).toMatchObject({ status: 'NEW', attempts: 0 });
  });

  it('runs a task whose message overtook the commit of the dispatcher that published it', async () => {
    const task = await newTask({ duration_ms: 0, failure_rate: 0 });
    await app.db.db.execute(sql`UPDATE tasks SET status = 'NEW' WHERE id = ${task.id}`);
    // A dispatcher has moved the task NEW -> PENDING and published, but not committed yet.
    const dispatcher = await app.db.pool.connect();
    try {
      await dispatcher.query('BEGIN');
      await dispatcher.query(`UPDATE tasks SET status = 'PENDING' WHERE id = $1`, [task.id]);
      const run = runTasks(forTask(task.id));
      await new Promise((r) => setTimeout(r, 300));
      await dispatcher.query('COMMIT');
      expect(await run).toEqual({ batchItemFailures: [] });
    } finally {
      dispatcher.release();
    }
    expect(await getTask(task.id)).toMatchObject({ status: 'COMPLETED', attempts: 1 });
  });

  it('dead-letters a message that is not a tasks message, and skips an unknown task', async () => {
    await takeDeadLetters('tasks');
    const res = await runTasks('{"nope": true}', forTask('3b241101-e2bb-4255-8caf-4136c566a962'));
    expect(res).toEqual({ batchItemFailures: [] });
    expect((await takeDeadLetters('tasks')).map((d) => [d.body, d.task_id, d.reason])).toEqual([
      ['{"nope": true}', null, 'not a valid tasks message: expected {"task_id": "<uuid>"}'],
    ]);
  });

  it('keeps the leases and writes the progress of concurrent runs in shared statements, not one per run', async () => {
    // 20 runs of 1 s, each reporting progress ten times and checking its lease every 100 ms (CANCEL_CHECK_MS): one
    // statement per run and check would be about 100 progress writes and 200 lease checks.
    const tasks = await Promise.all(Array.from({ length: 20 }, () => newTask({ duration_ms: 1_000, failure_rate: 0 })));
    const statements: string[] = [];
    const original = pg.Pool.prototype.query;
    const query = vi.spyOn(pg.Pool.prototype, 'query').mockImplementation(function (this: pg.Pool, ...args: unknown[]) {
      const text = args[0] as string | { text?: string };
      statements.push(typeof text === 'string' ? text : (text?.text ?? ''));
      return (original as (...a: unknown[]) => unknown).apply(this, args) as never;
    });
    try {
      const half = tasks.length / 2;
      const invocations = [tasks.slice(0, half), tasks.slice(half)].map((list) => runTasks(...list.map((t) => forTask(t.id))));
      // Meanwhile each run's own progress reaches its own row.
      let running = true;
      void Promise.all(invocations).finally(() => {
        running = false;
      });
      const seen = new Map<string, number>();
      while (running) {
        const { rows } = await app.db.pool.query<{ id: string; progress: number }>(
          "SELECT id, progress FROM tasks WHERE id = ANY($1) AND status = 'IN_PROGRESS' AND progress BETWEEN 1 AND 99",
          [tasks.map((t) => t.id)],
        );
        for (const row of rows) seen.set(row.id, row.progress);
        await sleep(50);
      }
      expect(seen.size).toBe(tasks.length);
      expect(await Promise.all(invocations)).toEqual([{ batchItemFailures: [] }, { batchItemFailures: [] }]);
    } finally {
      query.mockRestore();
    }
    const progressWrites = statements.filter((s) => /update "?tasks"?/i.test(s) && /"?progress"?\s*=/i.test(s) && !/finished_at/i.test(s));
    const leaseChecks = statements.filter((s) => /WITH ORDINALITY/i.test(s));
    // About one of each per tick (progress every 200 ms, checks every 100 ms) over the runs' second; room for a slow host.
    expect(progressWrites.length).toBeGreaterThan(0);
    expect(progressWrites.length).toBeLessThanOrEqual(20);
    expect(leaseChecks.length).toBeLessThanOrEqual(25);
    const done = await Promise.all(tasks.map((t) => getTask(t.id)));
    expect(done.map((t) => [t.status, t.progress])).toEqual(Array(20).fill(['COMPLETED', 100]));
  });

  it('stops a running task within a second when it is cancelled, and keeps it CANCELLED', async () => {
    const task = await newTask({ duration_ms: 10_000, failure_rate: 0 });
    const started = Date.now();
    const run = runTasks(forTask(task.id));
    for (let i = 0; i < 100 && (await getTask(task.id)).status !== 'IN_PROGRESS'; i++) await new Promise((r) => setTimeout(r, 20));
    await cancelTask(task.id);
    const cancelledAt = Date.now();
    await run;
    expect(Date.now() - cancelledAt).toBeLessThan(1_000);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(await getTask(task.id)).toMatchObject({ status: 'CANCELLED' });
    expect(await statuses(task.id)).toEqual(['NEW', 'PENDING', 'IN_PROGRESS', 'CANCELLED']);
  });
});

describe('the intake function', () => {
  const intakeEvent = (...bodies: string[]) => intake(toSqsEvent('task_intake', bodies.map(message)), fakeContext('intake'));

  it('creates one task per idempotency key and dead-letters invalid messages with the reason', async () => {
    await takeDeadLetters('task_intake');
    const valid = JSON.stringify({ title: 'from the queue', priority: 'HIGH', idempotency_key: 'intake-1' });
    const res = await intakeEvent(valid, valid, JSON.stringify({ title: '' }), '{{', JSON.stringify({ title: 'x', type: 'nope' }));
    expect(res).toEqual({ batchItemFailures: [] });
    const rows = await app.db.db.execute<{ id: string; priority: string }>(
      sql`SELECT id, priority FROM tasks WHERE idempotency_key = 'intake-1'`,
    );
    expect(rows.rows).toEqual([{ id: expect.any(String), priority: 'HIGH' }]);
    const reasons = (await takeDeadLetters('task_intake')).map((d) => d.reason).sort();
    expect(reasons).toEqual([
      "Unknown task type: type: unknown task type 'nope'; known types: emulate, checksum",
      'the message is not a valid task: title: must not be blank',
      'the message is not valid JSON',
    ]);
  });
});

describe('intake messages the database cannot store', () => {
  it('dead-letters NUL characters and unpaired surrogates instead of failing forever', async () => {
    await takeDeadLetters('task_intake');
    const bad = [
      '{"title":"nul key","idempotency_key":"a\\u0000b"}',
      '{"title":"nul in payload","type":"checksum","payload":{"text":"a\\u0000b"}}',
      '{"title":"lone surrogate","payload":{"note":"\\ud800x"}}',
    ];
    const res = await intake(toSqsEvent('task_intake', bad.map(message)), fakeContext('intake'));
    expect(res).toEqual({ batchItemFailures: [] });
    const dead = await takeDeadLetters('task_intake');
    expect(dead.map((d) => d.reason.split(':')[0])).toEqual([
      'the message is not a valid task',
      'the message is not a valid task',
      'the message is not a valid task',
    ]);
    expect(dead.map((d) => d.body).sort()).toEqual([...bad].sort());
  });
});

describe('runs of one task', () => {
  it('a run cancelled and retried at once never finishes the next run', async () => {
    const task = await newTask({ duration_ms: 1_500, failure_rate: 0 });
    const first = runTasks(forTask(task.id));
    for (let i = 0; i < 100 && (await getTask(task.id)).status !== 'IN_PROGRESS'; i++) await new Promise((r) => setTimeout(r, 20));
    await cancelTask(task.id);
    const cancelled = Date.now();
    await retryTask(task.id);
    const second = runTasks(forTask(task.id));
    const firstStopped = await first.then(() => Date.now() - cancelled);
    await second;
    const done = await getTask(task.id);
    expect(done).toMatchObject({ status: 'COMPLETED', attempts: 1 });
    // The first run stopped at its next check instead of running on as if the second run were its own,
    // and the result is the second run's: it took its full 1.5 s from the second start.
    expect(firstStopped).toBeLessThan(1_000);
    expect(Date.parse(done.finished_at as string) - Date.parse(done.started_at as string)).toBeGreaterThanOrEqual(1_400);
    expect(await statuses(task.id)).toEqual(['NEW', 'PENDING', 'IN_PROGRESS', 'CANCELLED', 'PENDING', 'IN_PROGRESS', 'COMPLETED']);
  });

  it('takes a message whose task id is in capitals', async () => {
    const task = await newTask({ duration_ms: 0, failure_rate: 0 });
    await runTasks(forTask(task.id.toUpperCase()));
    expect((await getTask(task.id)).status).toBe('COMPLETED');
  });
});

describe('the history', () => {
  it('holds only moves of the state machine', async () => {
    await expectOnlyAllowedMoves(app.db);
  });
});
