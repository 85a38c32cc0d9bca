import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { handler as taskTypes } from '../../functions/task-types';
import { handler as bulk } from '../../functions/tasks-bulk';
import { handler as cancel } from '../../functions/tasks-cancel';
import { handler as create } from '../../functions/tasks-create';
import { useTestApp } from '../helpers/app';
import { httpEvent, invoke } from '../helpers/lambda';

useTestApp();

const post = async (title: string) => {
  const res = await invoke(create, httpEvent({ method: 'POST', path: '/api/v1/tasks', body: { title, payload: { duration_ms: 0 } } }));
  expect(res.statusCode).toBe(201);
  return res.body as { id: string; title: string };
};
const runBulk = (body: unknown) => invoke(bulk, httpEvent({ method: 'POST', path: '/api/v1/tasks/bulk', body: body as object }));

describe('POST /api/v1/tasks/bulk on PostgreSQL', () => {
  it('cancels each task as DELETE would, one result per task in the given order, repeats once', async () => {
    const [a, b, c] = [await post('a'), await post('b'), await post('c')];
    expect(
      (await invoke(cancel, httpEvent({ method: 'DELETE', path: `/api/v1/tasks/${c.id}`, pathParameters: { id: c.id } }))).statusCode,
    ).toBe(200);
    const missing = randomUUID();
    const res = await runBulk({ action: 'cancel', ids: [a.id, b.id, c.id, missing, a.id.toUpperCase()] });
    expect(res).toEqual({
      statusCode: 200,
      headers: expect.objectContaining({ 'content-type': 'application/json' }),
      body: {
        action: 'cancel',
        succeeded: 2,
        failed: 2,
        items: [
          {
            id: a.id,
            status: 200,
            task: expect.objectContaining({ id: a.id, status: 'CANCELLED', finished_at: expect.any(String) }),
            error: null,
          },
          { id: b.id, status: 200, task: expect.objectContaining({ id: b.id, status: 'CANCELLED' }), error: null },
          {
            id: c.id,
            status: 409,
            task: null,
            error: 'Cannot cancel a task that is CANCELLED; only SCHEDULED, NEW, PENDING, IN_PROGRESS tasks can be',
          },
          { id: missing, status: 404, task: null, error: 'Task not found' },
        ],
      },
    });
  });

  it('retries each task as POST .../retry would', async () => {
    const [a, b] = [await post('d'), await post('e')];
    await runBulk({ action: 'cancel', ids: [a.id] });
    const res = await runBulk({ action: 'retry', ids: [a.id, b.id] });
    expect(res.body).toEqual({
      action: 'retry',
      succeeded: 1,
      failed: 1,
      items: [
        {
          id: a.id,
          status: 200,
          task: expect.objectContaining({ id: a.id, status: 'PENDING', finished_at: null, attempts: 0 }),
          error: null,
        },
        { id: b.id, status: 409, task: null, error: 'Cannot retry a task that is PENDING; only FAILED, CANCELLED tasks can be' },
      ],
    });
  });

  it('acts on 100 tasks in one request', async () => {
    const tasks = await Promise.all(Array.from({ length: 100 }, (_, i) => post(`many ${i}`)));
    const res = await runBulk({ action: 'cancel', ids: tasks.map((t) => t.id) });
    expect(res.statusCode).toBe(200);
    expect(res.body.succeeded).toBe(100);
    expect(res.body.items.map((x: { id: string }) => x.id)).toEqual(tasks.map((t) => t.id));
  });

  it('rejects a request it cannot act on with 422', async () => {
    const cases: Array<[unknown, string]> = [
      [{ action: 'cancel', ids: [] }, 'ids'],
      [{ action: 'cancel', ids: Array.from({ length: 101 }, () => randomUUID()) }, 'ids'],
      [{ action: 'delete', ids: [randomUUID()] }, 'action'],
      [{ action: 'retry', ids: ['not-a-uuid'] }, 'ids.0'],
      [{ action: 'retry', ids: [randomUUID()], extra: true }, '(root)'],
    ];
    for (const [body, path] of cases) {
      const res = await runBulk(body);
      expect(res.statusCode, JSON.stringify(body).slice(0, 80)).toBe(422);
      expect(res.body.errors.map((e: { path: string }) => e.path)).toContain(path);
    }
  });
});

describe('GET /api/v1/task-types', () => {
  it('lists the registered types with the JSON Schema of their payloads', async () => {
    const res = await invoke(taskTypes, httpEvent({ method: 'GET', path: '/api/v1/task-types' }));
    expect(res.statusCode).toBe(200);
    expect(res.body).toEqual({
      items: [
        {
          name: 'emulate',
          description: expect.any(String),
          default: true,
          timeout_ms: expect.any(Number),
          paused: false,
          concurrency: null,
          running: 0,
          payload_schema: {
            type: 'object',
            properties: {
              min_ms: expect.objectContaining({ type: 'integer', description: expect.any(String) }),
              max_ms: expect.objectContaining({ type: 'integer' }),
              duration_ms: expect.objectContaining({ type: 'integer' }),
              failure_rate: expect.objectContaining({ type: 'number', minimum: 0, maximum: 1 }),
            },
            additionalProperties: false,
          },
        },
        {
          name: 'checksum',
          description: expect.any(String),
          default: false,
          timeout_ms: 60_000,
          paused: false,
          concurrency: null,
          running: 0,
          payload_schema: {
            type: 'object',
            properties: {
              text: expect.objectContaining({ type: 'string' }),
              algorithm: { type: 'string', enum: ['sha256', 'sha512', 'sha1', 'md5'], default: 'sha256' },
              rounds: expect.objectContaining({ type: 'integer', default: 1 }),
            },
            required: ['text'],
            additionalProperties: false,
          },
        },
      ],
    });
  });
});
