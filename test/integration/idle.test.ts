import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { nextDeliveryDueInMs } from '#lib/db/callbacks';
import { msUntilNextRelease } from '#lib/db/tasks';
import { handler as create } from '../../functions/tasks-create';
import { useTestApp } from '../helpers/app';
import { httpEvent, invoke } from '../helpers/lambda';

// The releaser of scheduled tasks and the callback sender sleep until the next due time their query gives; with
// nothing due at all the answer must be "none", not "now", or each loop polls the database every few milliseconds
// while the service stands idle (locally in the bridge, in the cloud for the whole of every dispatcher run).

const app = useTestApp();

describe('an idle service', () => {
  it('has no scheduled task to wait for, then the time until the one it has', async () => {
    expect(await msUntilNextRelease(app.db.db)).toBeNull();
    const runAt = new Date(Date.now() + 60_000).toISOString();
    const made = await invoke(create, httpEvent({ method: 'POST', path: '/api/v1/tasks', body: { title: 'later', run_at: runAt } }));
    expect(made.statusCode).toBe(201);
    const ms = await msUntilNextRelease(app.db.db);
    expect(ms).toBeGreaterThan(50_000);
    expect(ms).toBeLessThanOrEqual(60_000);
  });

  it('has no callback delivery to wait for, then the time until the one it has', async () => {
    expect(await nextDeliveryDueInMs(app.db.db)).toBeUndefined();
    const made = await invoke(
      create,
      httpEvent({ method: 'POST', path: '/api/v1/tasks', body: { title: 'x', callback_url: 'https://example.com/hook' } }),
    );
    expect(made.statusCode).toBe(201);
    // A delivery due in 30 s, as after a failed attempt.
    await app.db.db.execute(sql`
      INSERT INTO callback_deliveries (task_id, event, url, task, next_attempt_at)
      VALUES (${made.body.id}, 'task.completed', 'https://example.com/hook', '{}'::jsonb, now() + interval '30 seconds')`);
    const ms = await nextDeliveryDueInMs(app.db.db);
    expect(ms).toBeGreaterThan(25_000);
    expect(ms).toBeLessThanOrEqual(30_000);
  });
});
