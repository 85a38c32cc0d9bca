import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { countTasksByStatusAndType } from '#lib/db/counts';
import { saveTypeSettings } from '#lib/db/task-types';
import { cancelTask, createTask, retryTask } from '#lib/tasks/commands';
import { deleteExpired, runMaintenance } from '#lib/tasks/dispatcher';
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

describe('merge review: counts and held tasks across the merged paths', () => {
  it('kept counts equal count(*) through scheduled create, release, hold, cancel, retry, run, retention', async () => {
    await saveTypeSettings(app.db.db, 'emulate', { paused: true });
    const now = await createTask({ type: 'emulate', title: 'now', priority: 'LOW', payload: {} });
    const later = await createTask({ type: 'emulate', title: 'later', priority: 'LOW', payload: {}, delay_ms: 200 });
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

describe('merge review: one failing maintenance step', () => {
  it('does not stop the repeated maintenance (a lost run is still found, the outbox still published)', async () => {
    // Retention fails (as a statement timeout or a lock would make it): a trigger refuses deletes of tasks.
    await app.db.db.execute(sql`CREATE FUNCTION review_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'refused'; END $$`);
    await app.db.db.execute(sql`CREATE TRIGGER review_refuse BEFORE DELETE ON tasks FOR EACH ROW EXECUTE FUNCTION review_refuse()`);
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
