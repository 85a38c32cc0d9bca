import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { resetConfig } from '#lib/config';
import { closeQueue, queue } from '#lib/queue/client';
import { runMaintenance } from '#lib/tasks/dispatcher';
import { getTaskEvents } from '#lib/tasks/queries';
import { handler as cancel } from '../../functions/tasks-cancel';
import { handler as create } from '../../functions/tasks-create';
import { handler as retry } from '../../functions/tasks-retry';
import { useTestApp } from '../helpers/app';
import { httpEvent, invoke } from '../helpers/lambda';

// A broker nobody listens on: publishing fails fast.
const app = useTestApp({ QUEUE_DRIVER: 'rabbitmq', RABBITMQ_URL: 'amqp://guest:guest@127.0.0.1:1', QUEUE_PUBLISH_TIMEOUT_MS: '500' });

describe('transactional enqueue through the outbox', () => {
  // Runs first: the next test points the queue client at the embedded queue.
  it('answers a stored task as stored when, after the insert, the queue and then the database fail', async () => {
    // The database refuses the move back to NEW, as it would if it had gone away after the insert.
    await app.db.db.execute(
      sql.raw(`CREATE FUNCTION refuse_new() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'database gone'; END $$`),
    );
    await app.db.db.execute(
      sql.raw(`CREATE TRIGGER refuse_new BEFORE UPDATE ON tasks FOR EACH ROW WHEN (NEW.status = 'NEW') EXECUTE FUNCTION refuse_new()`),
    );
    try {
      const res = await invoke(create, httpEvent({ method: 'POST', path: '/api/v1/tasks', body: { title: 'stored anyway' } }));
      expect(res.statusCode).toBe(201);
      expect(res.body.status).toBe('PENDING');
      const outbox = await app.db.db.execute(sql`SELECT 1 FROM outbox WHERE body->>'task_id' = ${res.body.id}`);
      expect(outbox.rows).toHaveLength(1);
    } finally {
      await app.db.db.execute(sql.raw('DROP TRIGGER refuse_new ON tasks; DROP FUNCTION refuse_new()'));
      await app.db.db.execute(sql`DELETE FROM outbox`);
    }
  });

  it('accepts a task with NEW while the queue is down, and the dispatcher queues it once it is back', async () => {
    const started = Date.now();
    const res = await invoke(create, httpEvent({ method: 'POST', path: '/api/v1/tasks', body: { title: 'while down' } }));
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(res.statusCode).toBe(201);
    expect(res.body.status).toBe('NEW');
    const id = res.body.id as string;
    const outbox = await app.db.db.execute<{ body: unknown }>(sql`SELECT body FROM outbox`);
    expect(outbox.rows).toEqual([{ body: { task_id: id } }]);

    // A failed task retried while the queue is down goes back to NEW too.
    await invoke(cancel, httpEvent({ method: 'DELETE', path: `/api/v1/tasks/${id}`, pathParameters: { id } }));
    const retried = await invoke(retry, httpEvent({ method: 'POST', path: `/api/v1/tasks/${id}/retry`, pathParameters: { id } }));
    expect(retried.body.status).toBe('NEW');

    // The broker "comes back": the embedded queue stands in for it.
    await closeQueue();
    process.env.QUEUE_DRIVER = 'postgres';
    resetConfig();
    await app.db.db.execute(sql`UPDATE outbox SET available_at = now()`);
    expect(await runMaintenance()).toBe(2);
    expect(await runMaintenance()).toBe(0);
    expect(await queue().depth('tasks')).toBe(2);
    expect((await app.db.db.execute(sql`SELECT * FROM outbox`)).rows).toEqual([]);
    const events = (await getTaskEvents(id)).items.map((e) => `${e.from_status}->${e.to_status}:${e.reason}`);
    expect(events).toEqual([
      'null->NEW:created',
      'NEW->PENDING:queued',
      'PENDING->NEW:queue unreachable',
      'NEW->CANCELLED:cancelled by request',
      'CANCELLED->PENDING:retry requested',
      'PENDING->NEW:queue unreachable',
      'NEW->PENDING:queued',
    ]);
  });
});
