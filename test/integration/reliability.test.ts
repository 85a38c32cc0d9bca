import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { queue } from '#lib/queue/client';
import { toSqsEvent } from '#lib/queue/events';
import { createTask } from '#lib/tasks/commands';
import { runMaintenance } from '#lib/tasks/dispatcher';
import { getTask, getTaskEvents } from '#lib/tasks/queries';
import { handler as processor } from '../../functions/processor';
import { useTestApp } from '../helpers/app';
import { createTestDatabase } from '../helpers/db';
import { fakeContext } from '../helpers/lambda';

const app = useTestApp({ LEASE_MS: '3000' });

const run = (id: string) =>
  processor(
    toSqsEvent('tasks', [{ id: 'm1', body: JSON.stringify({ task_id: id }), priority: 5, receiveCount: 1 }]),
    fakeContext('processor'),
  );

describe('timeouts', () => {
  it('aborts a run past its timeout_ms and records the error "timeout"', async () => {
    const { task } = await createTask({
      type: 'emulate',
      title: 'slow',
      priority: 'MEDIUM',
      payload: { duration_ms: 5_000, failure_rate: 0 },
      timeout_ms: 200,
    });
    expect(task.timeout_ms).toBe(200);
    const started = Date.now();
    await run(task.id);
    expect(Date.now() - started).toBeLessThan(1_500);
    expect(await getTask(task.id)).toMatchObject({ status: 'FAILED', error: 'timeout', attempts: 1 });
  });

  it("refuses a timeout_ms above the type's default", async () => {
    await expect(
      createTask({ type: 'checksum', title: 'x', priority: 'MEDIUM', payload: { text: 'a' }, timeout_ms: 120_000 }),
    ).rejects.toMatchObject({
      name: 'InvalidInputError',
      errors: [{ path: 'timeout_ms', message: "must be at most 60000 (the default timeout of 'checksum')" }],
    });
  });
});

describe('lost workers', () => {
  it('puts a task whose lease expired back in the queue, counting the lost attempt', async () => {
    const { task } = await createTask({ type: 'emulate', title: 'lost', priority: 'HIGH', payload: {} });
    await queue().purge('tasks');
    // A worker claimed it a minute ago and was last heard of 4 s ago (lease: 3 s), whatever its timeout.
    await app.db.db.execute(
      sql`UPDATE tasks SET status = 'IN_PROGRESS', attempts = 1, started_at = now() - interval '1 minute',
        heartbeat_at = now() - interval '4 seconds' WHERE id = ${task.id}`,
    );
    const { task: fresh } = await createTask({
      type: 'emulate',
      title: 'still running',
      priority: 'HIGH',
      payload: {},
      timeout_ms: 1_000,
    });
    // Started long before its timeout, but heard of 1 s ago: alive.
    await app.db.db.execute(
      sql`UPDATE tasks SET status = 'IN_PROGRESS', attempts = 1, started_at = now() - interval '1 minute',
        heartbeat_at = now() - interval '1 second' WHERE id = ${fresh.id}`,
    );
    await queue().purge('tasks');

    // Its message waits out a grace in the outbox (time for a live run cut off from the database to take the task
    // back), then goes.
    expect(await runMaintenance()).toBe(0);
    expect(await getTask(task.id)).toMatchObject({
      status: 'PENDING',
      attempts: 1,
      error: 'lease expired: the worker running this attempt was lost',
    });
    expect((await getTask(fresh.id)).status).toBe('IN_PROGRESS');
    await app.db.db.execute(sql`UPDATE outbox SET available_at = now()`);
    expect(await runMaintenance()).toBe(1);
    expect(await queue().depth('tasks')).toBe(1);
    const last = (await getTaskEvents(task.id)).items.at(-1);
    expect(last).toMatchObject({ from_status: 'IN_PROGRESS', to_status: 'PENDING', reason: 'lease expired' });
  });

  it('fails a task that was lost too many times, so that none stays IN_PROGRESS forever', async () => {
    const { task } = await createTask({ type: 'emulate', title: 'cursed', priority: 'LOW', payload: {}, timeout_ms: 1_000 });
    await app.db.db.execute(
      sql`UPDATE tasks SET status = 'IN_PROGRESS', attempts = 4, started_at = now() - interval '1 minute', heartbeat_at = now() - interval '1 minute'
        WHERE id = ${task.id}`,
    );
    await runMaintenance();
    expect(await getTask(task.id)).toMatchObject({ status: 'FAILED', finished_at: expect.any(String) });
  });
});

describe('a database connection that dies inside a transaction', () => {
  it('fails the transaction with the error and leaves the process running', async () => {
    const test = await createTestDatabase();
    try {
      const outcome = test.db.transaction(async (tx) => {
        const pid = (await tx.execute<{ pid: number }>(sql`SELECT pg_backend_pid() AS pid`)).rows[0]?.pid;
        // Another connection of the pool ends this one, as a server restart would.
        await test.pool.query('SELECT pg_terminate_backend($1)', [pid]);
        await sleep(100);
        await tx.execute(sql`SELECT 1`);
      });
      await expect(outcome).rejects.toThrow();
      // The pool goes on with fresh connections.
      expect((await test.pool.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    } finally {
      await test.drop();
    }
  });
});
