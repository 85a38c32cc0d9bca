import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { resetConfig } from '#lib/config';
import { createTask } from '#lib/tasks/commands';
import { deleteExpired, RETENTION_BATCH, runMaintenance } from '#lib/tasks/dispatcher';
import { useTestApp } from '../helpers/app';

const app = useTestApp({ RETENTION_DAYS: '30' });

const OLD_TASKS = 100_000;

const count = async (query: ReturnType<typeof sql>) => Number((await app.db.db.execute<{ n: string }>(query)).rows[0]?.n);

/** Old finished tasks (with four events each and some dead letters), and what must be kept. */
async function seed() {
  await app.db.db.transaction(async (tx) => {
    // Faster than the service's statement timeout allows on a busy machine.
    await tx.execute(sql`SET LOCAL statement_timeout = 0`);
    await tx.execute(sql`
    INSERT INTO tasks (id, type, title, status, attempts, created_at, updated_at, started_at, finished_at)
    SELECT gen_random_uuid(), 'emulate', 'old ' || i, (ARRAY['COMPLETED', 'FAILED', 'CANCELLED']::task_status[])[1 + i % 3], 1,
      now() - interval '41 days', now() - interval '40 days', now() - interval '41 days', now() - interval '40 days' + i * interval '1 second'
    FROM generate_series(1, ${OLD_TASKS}) AS i`);
    await tx.execute(sql`
    INSERT INTO task_events (task_id, from_status, to_status, at, reason)
    SELECT t.id, NULL, 'NEW', t.created_at, 'seed' FROM tasks t, generate_series(1, 4)`);
    await tx.execute(sql`
    INSERT INTO dead_letters (queue, task_id, reason, body, failed_at)
    SELECT 'tasks', id, 'seed', json_build_object('task_id', id)::text, finished_at FROM tasks WHERE status = 'FAILED' LIMIT 1000`);
  });
  // Kept: finished within the retention, and an old task that never finished; an old intake dead letter goes, a new one stays.
  await app.db.db.execute(sql`
    INSERT INTO tasks (type, title, status, created_at, updated_at, finished_at) VALUES
      ('emulate', 'recent', 'COMPLETED', now() - interval '29 days', now() - interval '29 days', now() - interval '29 days'),
      ('emulate', 'waiting since long ago', 'PENDING', now() - interval '60 days', now() - interval '60 days', NULL)`);
  await app.db.db.execute(sql`
    INSERT INTO dead_letters (queue, reason, body, failed_at) VALUES
      ('task_intake', 'old', '{{', now() - interval '31 days'), ('task_intake', 'new', '{{', now() - interval '1 day')`);
  await app.db.db.execute(sql`ANALYZE`);
}

describe('retention', () => {
  it('finds the expired tasks through the partial index on finished_at', async () => {
    await app.db.db.execute(sql`ANALYZE tasks`);
    const plan = await app.db.db.transaction(async (tx) => {
      // Tiny table: the question is whether the index can serve the statement.
      await tx.execute(sql`SET LOCAL enable_seqscan = off`);
      const res = await tx.execute<{ 'QUERY PLAN': string }>(sql`
        EXPLAIN SELECT id FROM tasks WHERE status IN ('COMPLETED', 'FAILED', 'CANCELLED') AND finished_at < now() - interval '30 days'
        ORDER BY finished_at LIMIT 1000 FOR UPDATE SKIP LOCKED`);
      return res.rows.map((r) => r['QUERY PLAN']).join('\n');
    });
    expect(plan).toContain('tasks_terminal_finished_at_idx');
  });

  it('deletes 100,000 expired tasks with their events and dead letters in small batches while creates go on, 99 in 100 under 100 ms and none waiting for a lock', async () => {
    await seed();
    expect(await count(sql`SELECT count(*) AS n FROM task_events`)).toBe(4 * OLD_TASKS);

    // Creates one at a time through the whole path (statement, publish, outbox delete) while the maintenance runs.
    const latencies: number[] = [];
    let deleting = true;
    // Warm-up: the first creates load the task type, the statement and the queue's connections; then a baseline.
    const baseline: number[] = [];
    for (let i = 0; i < 100; i++) {
      const t0 = performance.now();
      await createTask({ type: 'emulate', title: 'baseline', priority: 'MEDIUM', payload: {} });
      baseline.push(performance.now() - t0);
      await new Promise((r) => setTimeout(r, 5));
    }
    baseline.sort((a, b) => a - b);
    console.info(`baseline: p50 ${baseline[50]?.toFixed(1)} ms, max ${baseline.at(-1)?.toFixed(1)} ms`);
    // Any statement waiting for a row or table lock (a create held up by the deletion), sampled all along. Other lock
    // waits are not the deletion's: a table growing (`extend`), the embedded queue's NOTIFY at commit (`object`).
    const lockWaits = new Set<string>();
    const sampling = (async () => {
      while (deleting) {
        const res = await app.db.pool.query<{ wait: string }>(
          `SELECT wait_event || ': ' || left(query, 200) AS wait FROM pg_stat_activity
           WHERE datname = current_database() AND wait_event_type = 'Lock' AND wait_event IN ('relation', 'tuple', 'transactionid')`,
        );
        for (const r of res.rows) lockWaits.add(r.wait);
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    const creating = (async () => {
      while (deleting) {
        const started = performance.now();
        await createTask({ type: 'emulate', title: 'during retention', priority: 'MEDIUM', payload: {} });
        latencies.push(performance.now() - started);
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    const started = performance.now();
    let runs = 0;
    try {
      // The scheduled maintenance, run after run, as the schedule does (each spends at most its budget on retention).
      while ((await count(sql`SELECT count(*) AS n FROM tasks WHERE title LIKE 'old %'`)) > 0 && runs < 100) {
        await runMaintenance();
        runs += 1;
      }
    } finally {
      deleting = false;
      await creating;
      await sampling;
    }
    const elapsedMs = performance.now() - started;

    expect(await count(sql`SELECT count(*) AS n FROM tasks WHERE title LIKE 'old %'`)).toBe(0);
    expect(await count(sql`SELECT count(*) AS n FROM task_events WHERE reason = 'seed'`)).toBe(0);
    expect(await count(sql`SELECT count(*) AS n FROM dead_letters WHERE reason IN ('seed', 'old')`)).toBe(0);
    expect(await count(sql`SELECT count(*) AS n FROM dead_letters WHERE reason = 'new'`)).toBe(1);
    expect(await count(sql`SELECT count(*) AS n FROM tasks WHERE title IN ('recent', 'waiting since long ago')`)).toBe(2);

    latencies.sort((a, b) => a - b);
    const p50 = latencies[Math.floor(latencies.length / 2)] ?? 0;
    const max = latencies.at(-1) ?? 0;
    console.info(
      `retention: ${OLD_TASKS} tasks in ${Math.round(elapsedMs)} ms over ${runs} maintenance runs; ${latencies.length} creates meanwhile, p50 ${p50.toFixed(1)} ms, max ${max.toFixed(1)} ms`,
    );
    // Enough creates to have met the deletions at every stage.
    expect(latencies.length).toBeGreaterThanOrEqual(50);
    // No create ever waited for a lock of the deletion...
    expect([...lockWaits]).toEqual([]);
    // ...and 99 of 100 took under 100 ms. The machine is shared: when creates alone already take longer at times (the
    // baseline), the bound is half as much again as the baseline's worst. A single create's worst is left to a looser
    // bound, as one stall of the shared cores can hit it; creates held up by a batch of deletions would break both.
    const bound = Math.max(100, 1.5 * (baseline.at(-1) ?? 0));
    const p99 = latencies[Math.floor(latencies.length * 0.99)] ?? 0;
    expect(p99).toBeLessThan(bound);
    expect(max).toBeLessThan(Math.max(1_000, 3 * (baseline.at(-1) ?? 0)));
  }, 180_000);

  it('deletes nothing when RETENTION_DAYS is 0, and at most a batch per statement', async () => {
    await app.db.db.execute(sql`DELETE FROM tasks`);
    await app.db.db.execute(sql`
      INSERT INTO tasks (type, title, status, finished_at)
      SELECT 'emulate', 'expired ' || i, 'COMPLETED', now() - interval '400 days' FROM generate_series(1, ${RETENTION_BATCH + 5}) AS i`);
    process.env.RETENTION_DAYS = '0';
    resetConfig();
    try {
      expect(await deleteExpired()).toEqual({ tasks: 0, deadLetters: 0, done: true });
    } finally {
      process.env.RETENTION_DAYS = '30';
      resetConfig();
    }
    // A budget of nothing still does one batch, and says that more is left.
    expect(await deleteExpired({ budgetMs: 0 })).toEqual({ tasks: RETENTION_BATCH, deadLetters: 0, done: false });
    expect(await deleteExpired()).toEqual({ tasks: 5, deadLetters: 0, done: true });
  });
});
