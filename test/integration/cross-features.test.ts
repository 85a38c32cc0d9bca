import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { countTasksByStatusAndType } from '#lib/db/counts';
import { saveTypeSettings } from '#lib/db/task-types';
import { cancelTask, createTask, retryTask } from '#lib/tasks/commands';
import { deleteExpired, runMaintenance } from '#lib/tasks/dispatcher';
import { dispatchOutbox } from '#lib/tasks/outbox';
import { processTaskMessage } from '#lib/tasks/processor';
import { releaseDue } from '#lib/tasks/scheduler';
import { useTestApp } from '../helpers/app';

const app = useTestApp({ RETENTION_DAYS: '1' });

async function counted() {
  const res = await app.db.db.execute<{ status: string; type: string; n: number }>(
    sql`SELECT status, type, count(*)::int AS n FROM tasks GROUP BY 1, 2`,
  );
  return Object.fromEntries(res.rows.map((r) => [`${r.status}/${r.type}`, r.n]));
}
async function kept() {
  return Object.fromEntries((await countTasksByStatusAndType(app.db.db)).map((r) => [`${r.status}/${r.type}`, r.n]));
}
const held = async (id: string) =>
  (await app.db.db.execute<{ held: boolean; status: string }>(sql`SELECT held_at IS NOT NULL AS held, status FROM tasks WHERE id = ${id}`))
    .rows[0];

describe('counts and held tasks across scheduling, pausing, retries and retention', () => {
  it('kept counts equal count(*) through scheduled create, release, hold, cancel, retry, run, retention', async () => {
    await saveTypeSettings(app.db.db, 'emulate', { paused: true });
    const now = await createTask({ type: 'emulate', title: 'now', priority: 'LOW', payload: { duration_ms: 0, failure_rate: 0 } });
    const later = await createTask({
      type: 'emulate',
      title: 'later',
      priority: 'LOW',
      payload: { duration_ms: 0, failure_rate: 0 },
      delay_ms: 200,
    });
    expect(later.task.status).toBe('SCHEDULED');
    expect(await kept()).toEqual(await counted());
    await new Promise((r) => setTimeout(r, 300));
    await releaseDue();
    expect(await kept()).toEqual(await counted());
    // Paused: both are held.
    expect(await processTaskMessage(JSON.stringify({ task_id: now.task.id }))).toBe('done');
    expect(await processTaskMessage(JSON.stringify({ task_id: later.task.id }))).toBe('done');
    expect((await held(now.task.id))?.held).toBe(true);
    // A held task cancelled, then retried.
    await cancelTask(now.task.id);
    await retryTask(now.task.id);
    expect(await kept()).toEqual(await counted());
    await saveTypeSettings(app.db.db, 'emulate', { paused: false });
    await runMaintenance();
    expect(await processTaskMessage(JSON.stringify({ task_id: now.task.id }))).toBe('done');
    expect(await processTaskMessage(JSON.stringify({ task_id: later.task.id }))).toBe('done');
    expect(await kept()).toEqual(await counted());
    expect((await held(now.task.id))?.status).toBe('COMPLETED');
    expect((await held(later.task.id))?.status).toBe('COMPLETED');
    await app.db.db.execute(sql`UPDATE tasks SET finished_at = now() - interval '2 days' WHERE finished_at IS NOT NULL`);
    await deleteExpired();
    expect(await kept()).toEqual(await counted());
    await runMaintenance();
    expect(await kept()).toEqual(await counted());
  });
});

describe('one failing maintenance step', () => {
  it('does not stop the repeated maintenance (a lost run is still found, the outbox still published)', async () => {
    // Retention fails (as a statement timeout or a lock would make it): a trigger refuses deletes of tasks.
    await app.db.db.execute(sql`CREATE FUNCTION refuse_delete() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'refused'; END $$`);
    await app.db.db.execute(sql`CREATE TRIGGER refuse_delete BEFORE DELETE ON tasks FOR EACH ROW EXECUTE FUNCTION refuse_delete()`);
    await app.db.db.execute(sql`
      INSERT INTO tasks (type, title, status, created_at, updated_at, finished_at)
      VALUES ('emulate', 'old', 'COMPLETED', now() - interval '3 days', now() - interval '3 days', now() - interval '3 days')`);
    const { runMaintenanceRepeatedly } = await import('#lib/tasks/dispatcher');
    const run = runMaintenanceRepeatedly({ forMs: 3_000, everyMs: 1_000 });
    // A task whose outbox row comes after the first round: a later round must publish it.
    await new Promise((r) => setTimeout(r, 500));
    const t = await createTask({ type: 'emulate', title: 'late', priority: 'LOW', payload: {} });
    await app.db.db.execute(sql`UPDATE tasks SET status = 'NEW' WHERE id = ${t.task.id}`);
    await app.db.db.execute(
      sql`INSERT INTO outbox (queue, body, priority) VALUES ('tasks', ${JSON.stringify({ task_id: t.task.id })}::jsonb, 0)`,
    );
    await expect(run).resolves.toBeGreaterThanOrEqual(0);
    const left = await app.db.db.execute<{ n: number }>(sql`SELECT count(*)::int AS n FROM outbox`);
    expect(left.rows[0]?.n).toBe(0);
  });
});

describe('a maintenance round with a large backlog', () => {
  it('publishes the outbox and releases due tasks batch by batch while its budget lasts, and the rest later', async () => {
    await app.db.db.execute(sql`DELETE FROM outbox`);
    await app.db.db.execute(sql`
      INSERT INTO outbox (queue, body, priority) SELECT 'tasks', jsonb_build_object('task_id', gen_random_uuid()), 5
      FROM generate_series(1, 450)`);
    // A budget spent at once still takes one batch (200 rows); the rest stays for the next round.
    expect(await dispatchOutbox(0)).toBe(200);
    expect(await dispatchOutbox()).toBe(250);
    const due = await app.db.db.execute<{ id: string }>(sql`
      INSERT INTO tasks (type, title, status, run_at) SELECT 'emulate', 'due ' || i, 'SCHEDULED', now() - interval '1 second'
      FROM generate_series(1, 10) i RETURNING id`);
    expect(due.rows).toHaveLength(10);
    expect(await releaseDue(0)).toBeGreaterThan(0);
    await releaseDue();
    const left = await app.db.db.execute<{ n: number }>(sql`SELECT count(*)::int AS n FROM tasks WHERE status = 'SCHEDULED'`);
    expect(left.rows[0]?.n).toBe(0);
  });
});
