import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'drizzle-orm';
import { describe, expect, it, onTestFinished } from 'vitest';
import { resetConfig } from '#lib/config';
import { db } from '#lib/db/client';
import { renewLeases } from '#lib/db/leases';
import { returnUnpublishedToNew } from '#lib/db/outbox';
import { claimTasks, finishTasks, insertQueuedTasks, transition } from '#lib/db/tasks';
import { MOVES } from '#lib/model';
import { queue } from '#lib/queue/client';
import { toSqsEvent } from '#lib/queue/events';
import { createTask, updateTask } from '#lib/tasks/commands';
import { runMaintenance } from '#lib/tasks/dispatcher';
import { untilAbandoned } from '#lib/tasks/processor';
import { getTask, getTaskEvents } from '#lib/tasks/queries';
import { waitUntil } from '#lib/time';
import { handler as dispatcher } from '../../functions/dispatcher';
import { handler as processor } from '../../functions/processor';
import { useTestApp } from '../helpers/app';
import { fakeContext } from '../helpers/lambda';
import { expectOnlyAllowedMoves } from '../helpers/moves';

const app = useTestApp({ LEASE_MS: '1500', CANCEL_CHECK_MS: '100' });

const run = (id: string) =>
  processor(
    toSqsEvent('tasks', [{ id: `m-${id}`, body: JSON.stringify({ task_id: id }), priority: 5, receiveCount: 1 }]),
    fakeContext('processor'),
  );
/** Nothing waiting anywhere: no message in the queue, no row in the outbox (an earlier test's requeue may have left one). */
const nothingQueued = async () => {
  await app.db.db.execute(sql`DELETE FROM outbox`);
  await queue().purge('tasks');
};
const moves = async (id: string) => (await getTaskEvents(id)).items.map((e) => `${e.from_status}->${e.to_status}:${e.reason}`);
const emulate = (duration_ms: number) => ({
  type: 'emulate',
  title: 'lease',
  priority: 'MEDIUM' as const,
  payload: { duration_ms, failure_rate: 0 },
});

/** A task claimed by a run whose lease then lapsed (not heard of for an hour), and requeued by the maintenance. */
async function lapsedRun(priority: 'LOW' | 'MEDIUM' | 'HIGH' = 'MEDIUM') {
  const { task } = await createTask({ ...emulate(0), priority });
  await nothingQueued();
  const [claimed] = (await claimTasks(db(), [task.id])).claimed;
  await app.db.db.execute(sql`UPDATE tasks SET heartbeat_at = now() - interval '1 hour' WHERE id = ${task.id}`);
  await runMaintenance();
  return { task, run: { id: task.id, startedAt: claimed?.started_at as string } };
}

describe('leases by heartbeat', () => {
  it('keeps a live run that lasts several leases: maintenance never takes it', async () => {
    const { task } = await createTask(emulate(4_000));
    await queue().purge('tasks');
    const running = run(task.id);
    for (let i = 0; i < 12; i++) {
      await sleep(300);
      await runMaintenance();
    }
    expect(await running).toEqual({ batchItemFailures: [] });
    expect(await getTask(task.id)).toMatchObject({ status: 'COMPLETED', attempts: 1 });
    expect((await moves(task.id)).filter((m) => m.endsWith(':started'))).toHaveLength(1);
  });

  it('records the outcome of a run whose lease lapsed while it could not be heard, and takes the task back', async () => {
    // A long lease, so that the run renews nothing by itself while the test plays its lapse.
    process.env.LEASE_MS = '60000';
    resetConfig();
    onTestFinished(() => {
      process.env.LEASE_MS = '1500';
      resetConfig();
    });
    const { task } = await createTask(emulate(1_500));
    await queue().purge('tasks');
    const running = run(task.id);
    await waitUntil('the run started', async () => (await getTask(task.id)).status === 'IN_PROGRESS', 1_200, 20);
    // The run was not heard of for an hour (its heartbeats lost, as while the database was away): maintenance
    // queues the task again.
    await app.db.db.execute(sql`UPDATE tasks SET heartbeat_at = now() - interval '1 hour' WHERE id = ${task.id}`);
    await runMaintenance();
    expect((await getTask(task.id)).status).toMatch(/PENDING|IN_PROGRESS/);
    expect(await running).toEqual({ batchItemFailures: [] });
    // The message maintenance queued finds the task done and runs nothing.
    await run(task.id);
    expect(await getTask(task.id)).toMatchObject({ status: 'COMPLETED', attempts: 1, error: null });
    const history = await moves(task.id);
    expect(history.filter((m) => m.endsWith(':started'))).toHaveLength(1);
    expect(history).toContain('IN_PROGRESS->PENDING:lease expired');
    expect(history.at(-1)).toMatch(/->COMPLETED:completed$/);
  });

  it('requeues a run that stopped renewing within a lease, whatever its timeout', async () => {
    const { task } = await createTask(emulate(60_000));
    await nothingQueued();
    // A worker claimed it and died at once: no heartbeat after the claim.
    await app.db.db.execute(
      sql`UPDATE tasks SET status = 'IN_PROGRESS', attempts = 1, started_at = now(), heartbeat_at = now() WHERE id = ${task.id}`,
    );
    await runMaintenance();
    expect((await getTask(task.id)).status).toBe('IN_PROGRESS');
    await sleep(1_700);
    await runMaintenance();
    expect(await getTask(task.id)).toMatchObject({ status: 'PENDING', error: 'lease expired: the worker running this attempt was lost' });
    // The lost attempt's event keeps its number and error.
    expect((await getTaskEvents(task.id)).items.at(-1)).toMatchObject({
      from_status: 'IN_PROGRESS',
      to_status: 'PENDING',
      reason: 'lease expired',
      attempt: 1,
      error: 'lease expired: the worker running this attempt was lost',
    });
    // Its message is published after a grace (two checks of a live run, 100 ms each here, and 2 s).
    expect(await queue().depth('tasks')).toBe(0);
    await sleep(2_300);
    await runMaintenance();
    expect(await queue().depth('tasks')).toBe(1);
  });

  it('never takes back a task its own run requeued after a failed attempt', async () => {
    const { task } = await createTask({ ...emulate(0), max_attempts: 2 });
    await queue().purge('tasks');
    const [claimed] = (await claimTasks(db(), [task.id])).claimed;
    const run = { id: task.id, startedAt: claimed?.started_at as string };
    // The run failed and requeued its task (as the processor does), while one of its lease checks was on the way.
    await transition(db(), {
      id: task.id,
      move: MOVES.requeue,
      reason: 'attempt 1 failed; retry in 10 ms',
      set: sql`error = 'boom', progress = NULL, heartbeat_at = NULL`,
      run: run.startedAt,
    });
    expect(await renewLeases(db(), [run])).toEqual([false]);
    expect(await finishTasks(db(), [{ id: task.id, startedAt: run.startedAt, to: 'COMPLETED', result: 1 }])).toEqual(new Set());
    expect(await getTask(task.id)).toMatchObject({ status: 'PENDING', error: 'boom' });
  });

  it('lets a live run take back a task whose lease lapsed, before the requeued message exists', async () => {
    const { task, run } = await lapsedRun();
    expect((await getTask(task.id)).status).toBe('PENDING');
    // The database answers the live run again within the grace: it takes the task back; its message, once
    // published, finds the task running.
    expect(await renewLeases(db(), [run])).toEqual([true]);
    expect((await getTask(task.id)).status).toBe('IN_PROGRESS');
    expect(await queue().depth('tasks')).toBe(0);
    expect((await moves(task.id)).slice(-2)).toEqual([
      'IN_PROGRESS->PENDING:lease expired',
      'PENDING->IN_PROGRESS:lease renewed: the run was alive',
    ]);
  });

  it('keeps the grace when the priority of a task whose lease lapsed changes: no message the live run could race', async () => {
    const { task, run } = await lapsedRun('LOW');
    expect((await getTask(task.id)).status).toBe('PENDING');
    // A client raises its priority within the grace: the message waiting out the grace takes the new priority, and no
    // second message goes out before the grace ends.
    await updateTask(task.id, { priority: 'HIGH' });
    await runMaintenance();
    expect(await queue().depth('tasks')).toBe(0);
    const waiting = await app.db.db.execute<{ priority: number; later: boolean }>(
      sql`SELECT priority, available_at > now() AS later FROM outbox WHERE body->>'task_id' = ${task.id}`,
    );
    expect(waiting.rows).toEqual([{ priority: 9, later: true }]);
    // The live run is heard of again within the grace and takes its task back; nothing else can claim it.
    expect(await renewLeases(db(), [run])).toEqual([true]);
    expect((await claimTasks(db(), [task.id])).claimed).toEqual([]);
  });

  it('publishes a message with the new priority once the grace of a lapsed lease is over and its message went out', async () => {
    const { task } = await lapsedRun('LOW');
    // The grace is over: the requeued message (LOW) is published.
    await app.db.db.execute(sql`UPDATE outbox SET available_at = now() WHERE body->>'task_id' = ${task.id}`);
    await runMaintenance();
    expect(await queue().depth('tasks')).toBe(1);
    // Raised now, it gets a message of its new priority, as any PENDING task does (the lapsed run may still take it
    // back: that message then finds it running).
    await updateTask(task.id, { priority: 'HIGH' });
    expect(await queue().depth('tasks')).toBe(2);
  });

  it('fails a task whose runs were lost too often, and leaves its dead letter as every final failure does', async () => {
    const { task } = await createTask({ ...emulate(0), max_attempts: 1 });
    await nothingQueued();
    // Its one attempt and the three lost runs allowed beyond it are spent; this run is lost too.
    await app.db.db.execute(
      sql`UPDATE tasks SET status = 'IN_PROGRESS', attempts = 4, started_at = now() - interval '1 hour', heartbeat_at = now() - interval '1 hour'
        WHERE id = ${task.id}`,
    );
    await runMaintenance();
    expect(await getTask(task.id)).toMatchObject({ status: 'FAILED', error: 'lease expired: the worker running this attempt was lost' });
    const dead = await app.db.db.execute<{ queue: string; reason: string; body: string }>(
      sql`SELECT queue, reason, body FROM dead_letters WHERE task_id = ${task.id}`,
    );
    expect(dead.rows).toEqual([
      {
        queue: 'tasks',
        reason: `task ${task.id} failed after 4 attempt(s): lease expired: the worker running this attempt was lost`,
        body: JSON.stringify({ task_id: task.id }),
      },
    ]);
  });

  it('publishes again the message of a PENDING task that waited long with no outbox row (a message lost by the broker)', async () => {
    const { task } = await createTask(emulate(0));
    const { task: fresh } = await createTask(emulate(0));
    await nothingQueued();
    await app.db.db.execute(sql`UPDATE tasks SET updated_at = now() - interval '2 hours' WHERE id = ${task.id}`);
    await runMaintenance();
    expect(await queue().depth('tasks')).toBe(1);
    // Once per period: the task's updated_at was touched.
    await runMaintenance();
    expect(await queue().depth('tasks')).toBe(1);
    expect((await getTask(fresh.id)).status).toBe('PENDING');
  });
});

describe('the scheduled maintenance', () => {
  it('repeats within one invocation, so that a run lost between two schedules is found within seconds', async () => {
    const { task } = await createTask(emulate(60_000));
    await queue().purge('tasks');
    await app.db.db.execute(
      sql`UPDATE tasks SET status = 'IN_PROGRESS', attempts = 1, started_at = now(), heartbeat_at = now() WHERE id = ${task.id}`,
    );
    const started = Date.now();
    await dispatcher({ repeat_for_ms: 3_000, every_ms: 1_000 }, fakeContext('dispatcher'));
    // Rounds at 0, 1 and 2 s: the lease (1.5 s) lapsed during the invocation, and its last round found it.
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_900);
    expect(await getTask(task.id)).toMatchObject({ status: 'PENDING' });
  });
});

describe('a task type that ignores its signal', () => {
  it('is abandoned a grace period after the signal fires, with the signal reason', async () => {
    const controller = new AbortController();
    const stubborn = new Promise((resolve) => setTimeout(() => resolve('too late'), 5_000));
    const started = Date.now();
    setTimeout(() => controller.abort(new Error('timeout')), 100);
    await expect(untilAbandoned(stubborn, controller.signal, 200)).rejects.toThrow('timeout');
    expect(Date.now() - started).toBeGreaterThanOrEqual(280);
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('is not cut short when it settles by itself', async () => {
    const controller = new AbortController();
    await expect(untilAbandoned(Promise.resolve(42), controller.signal, 10)).resolves.toBe(42);
  });
});

describe('the move back to NEW after a failed publish', () => {
  const insert = async () => {
    const id = crypto.randomUUID();
    const rows = await insertQueuedTasks(
      db(),
      [
        {
          id,
          type: 'emulate',
          title: 'race',
          description: null,
          priority: 'LOW',
          payload: {},
          max_attempts: 1,
          timeout_ms: null,
          idempotency_key: null,
          request_hash: null,
        },
      ],
      0,
    );
    const row = rows.get(id);
    return { taskId: id, outboxId: row?.outbox_id as number };
  };

  for (const [outcome, expected] of [
    ['COMMIT', 'PENDING'],
    ['ROLLBACK', 'NEW'],
  ] as const) {
    it(`waits for a dispatcher holding the row; after its ${outcome} the task is ${expected}`, async () => {
      const item = await insert();
      const dispatcher = await app.db.pool.connect();
      try {
        await dispatcher.query('BEGIN');
        await dispatcher.query('SELECT id FROM outbox WHERE id = $1 FOR UPDATE SKIP LOCKED', [item.outboxId]);
        await dispatcher.query('DELETE FROM outbox WHERE id = $1', [item.outboxId]);
        const fallback = returnUnpublishedToNew(db(), [item], 'queue unreachable');
        await sleep(300);
        await dispatcher.query(outcome);
        const moved = await fallback;
        expect(moved.map((r) => r.id)).toEqual(expected === 'NEW' ? [item.taskId] : []);
      } finally {
        dispatcher.release();
      }
      expect((await getTask(item.taskId)).status).toBe(expected);
      const left = await app.db.db.execute(sql`SELECT 1 FROM outbox WHERE id = ${item.outboxId}`);
      expect(left.rows).toHaveLength(expected === 'NEW' ? 1 : 0);
    });
  }

  it('publishes a NEW task whose priority changed with its new priority', async () => {
    const item = await insert();
    expect(await returnUnpublishedToNew(db(), [item], 'queue unreachable')).toHaveLength(1);
    await updateTask(item.taskId, { priority: 'HIGH' });
    const rows = await app.db.db.execute<{ priority: number }>(sql`SELECT priority FROM outbox WHERE id = ${item.outboxId}`);
    expect(rows.rows).toEqual([{ priority: 9 }]);
  });

  it('leaves the task PENDING when the dispatcher already published and deleted the row', async () => {
    const item = await insert();
    expect(await runMaintenance()).toBeGreaterThanOrEqual(1);
    expect(await returnUnpublishedToNew(db(), [item], 'queue unreachable')).toEqual([]);
    expect((await getTask(item.taskId)).status).toBe('PENDING');
  });
});

describe('the history', () => {
  it('holds only moves of the state machine', async () => {
    await expectOnlyAllowedMoves(app.db);
  });
});
