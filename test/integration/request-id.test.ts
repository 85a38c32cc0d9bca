import { describe, expect, it } from 'vitest';
import { runMaintenance } from '#lib/tasks/dispatcher';
import { processIntakeMessage } from '#lib/tasks/intake';
import { processTaskMessage } from '#lib/tasks/processor';
import { handler as cancel } from '../../functions/tasks-cancel';
import { handler as create } from '../../functions/tasks-create';
import { handler as get } from '../../functions/tasks-get';
import { useTestApp } from '../helpers/app';
import { httpEvent, invoke } from '../helpers/lambda';
import { useCapturedOutput } from '../helpers/logs';

const app = useTestApp();

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

const createEvent = (headers: Record<string, string> = {}, body: object = { title: 't', type: 'checksum', payload: { text: 'x' } }) =>
  httpEvent({ method: 'POST', path: '/api/v1/tasks', body, headers });

describe('X-Request-Id', () => {
  const output = useCapturedOutput();

  it("is the client's own when acceptable, else a new UUID (never API Gateway's id)", async () => {
    const own = await invoke(create, createEvent({ 'x-request-id': 'client-id 42/abc' }));
    expect(own.headers['x-request-id']).toBe('client-id 42/abc');
    const longest = 'r'.repeat(128);
    expect((await invoke(create, createEvent({ 'X-Request-Id': longest }))).headers['x-request-id']).toBe(longest);

    const event = createEvent();
    const made = await invoke(create, event);
    expect(made.headers['x-request-id']).toMatch(UUID);
    expect(made.headers['x-request-id']).not.toBe(event.requestContext.requestId);
    const again = await invoke(create, createEvent());
    expect(again.headers['x-request-id']).not.toBe(made.headers['x-request-id']);

    for (const bad of ['r'.repeat(129), 'tab\there', 'naïve', '   ']) {
      const res = await invoke(create, createEvent({ 'x-request-id': bad }));
      expect(res.headers['x-request-id'], JSON.stringify(bad)).toMatch(UUID);
    }
  });

  it('is on error responses too, in the header and the problem', async () => {
    const invalid = await invoke(create, createEvent({ 'x-request-id': 'bad-body-1' }, { title: '' }));
    expect(invalid.statusCode).toBe(422);
    expect(invalid.headers['x-request-id']).toBe('bad-body-1');
    expect(invalid.body.request_id).toBe('bad-body-1');
    const missing = await invoke(
      get,
      httpEvent({
        method: 'GET',
        path: '/api/v1/tasks/00000000-0000-4000-8000-000000000000',
        routeKey: 'GET /api/v1/tasks/{id}',
        pathParameters: { id: '00000000-0000-4000-8000-000000000000' },
      }),
    );
    expect(missing.statusCode).toBe(404);
    expect(missing.headers['x-request-id']).toMatch(UUID);
    expect(missing.body.request_id).toBe(missing.headers['x-request-id']);
  });

  it("is carried, with the task id, by the create's line and by every line of the task's runs", async () => {
    const res = await invoke(create, createEvent({ 'x-request-id': 'trace-me-1' }));
    expect(res.statusCode).toBe(201);
    const taskId = res.body.id as string;
    expect(await processTaskMessage(JSON.stringify({ task_id: taskId }))).toBe('done');
    output.release();

    const lines = output.entries().filter((l) => l.task_id === taskId);
    const changes = lines.filter((l) => l.message === 'task created' || l.message === 'task status changed');
    expect(changes.map((l) => [l.from, l.to, l.reason, l.level])).toEqual([
      // Powertools leaves out keys whose value is null: a create's line has no `from`.
      [undefined, 'PENDING', 'created', 'INFO'],
      ['PENDING', 'IN_PROGRESS', 'started', 'INFO'],
      ['IN_PROGRESS', 'COMPLETED', 'completed', 'INFO'],
    ]);
    expect(lines.every((l) => l.request_id === 'trace-me-1')).toBe(true);
    // The request's own lines (its summary included) carry the id and the route.
    expect(output.entries().filter((l) => l.request_id === 'trace-me-1' && l.route === 'POST /api/v1/tasks').length).toBeGreaterThan(0);
  });

  it("a cancel's line carries the cancelling request's id", async () => {
    const made = await invoke(create, createEvent({ 'x-request-id': 'made-2' }));
    const id = made.body.id as string;
    const res = await invoke(
      cancel,
      httpEvent({
        method: 'POST',
        path: `/api/v1/tasks/${id}/cancel`,
        routeKey: 'POST /api/v1/tasks/{id}/cancel',
        pathParameters: { id },
        headers: { 'x-request-id': 'cancel-2' },
      }),
    );
    output.release();
    expect(res.statusCode).toBe(200);
    const line = output.entries().find((l) => l.task_id === id && l.to === 'CANCELLED');
    expect(line).toMatchObject({ message: 'task status changed', from: 'PENDING', request_id: 'cancel-2', reason: 'cancelled by request' });
  });

  it('an intake message gets an id of its own, which its runs carry', async () => {
    await processIntakeMessage(JSON.stringify({ title: 'from intake', type: 'checksum', payload: { text: 'y' } }));
    const created = output.entries().find((l) => l.message === 'task created');
    expect(created?.request_id).toMatch(UUID);
    await processTaskMessage(JSON.stringify({ task_id: created?.task_id }));
    output.release();
    const done = output.entries().find((l) => l.task_id === created?.task_id && l.to === 'COMPLETED');
    expect(done?.request_id).toBe(created?.request_id);
  });

  it("a lost run's line, written by the maintenance, carries the create's request id", async () => {
    const made = await invoke(create, createEvent({ 'x-request-id': 'lost-3' }));
    const id = made.body.id as string;
    // A run that started long ago and was never heard of again.
    await app.db.db.execute(
      `UPDATE tasks SET status = 'IN_PROGRESS', attempts = 1, started_at = now() - interval '1 hour', heartbeat_at = now() - interval '1 hour' WHERE id = '${id}'`,
    );
    await runMaintenance();
    output.release();
    const line = output.entries().find((l) => l.task_id === id && l.reason === 'lease expired');
    expect(line).toMatchObject({
      message: 'task status changed',
      from: 'IN_PROGRESS',
      to: 'PENDING',
      request_id: 'lost-3',
      type: 'checksum',
    });
  });
});
