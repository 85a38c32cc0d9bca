import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { request, useService } from '../helpers/offline';

const svc = useService();
const call = (method: string, path: string, body?: unknown, headers?: Record<string, string>) =>
  request(svc.baseUrl, method, path, body, headers);

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

describe('the HTTP API through serverless-offline', () => {
  it('GET /health answers ok for the database and the queue', async () => {
    const res = await call('GET', '/health');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ok', checks: { database: 'ok', queue: 'ok' } });
  });

  it('walks a task through every route', async () => {
    const created = await call('POST', '/api/v1/tasks', { title: 'e2e task', priority: 'LOW', payload: { duration_ms: 0 } });
    expect(created.status).toBe(201);
    expect(created.headers.get('content-type')).toContain('application/json');
    expect(created.headers.get('location')).toBe(`/api/v1/tasks/${created.body.id}`);
    expect(created.headers.get('x-request-id')).toBeTruthy();
    expect(created.body).toMatchObject({ title: 'e2e task', priority: 'LOW', status: 'PENDING', created_at: expect.stringMatching(ISO) });
    const id = created.body.id as string;

    expect((await call('GET', `/api/v1/tasks/${id}`)).body).toEqual(created.body);
    expect((await call('GET', `/api/v1/tasks/${id}/`)).status).toBe(200);
    expect((await call('GET', `/api/v1/tasks/${id}/status`)).body).toEqual({ task_id: id, status: 'PENDING' });

    const listed = await call('GET', '/api/v1/tasks/?status=PENDING,NEW&priority=LOW&limit=5');
    expect(listed.status).toBe(200);
    expect(listed.body).toMatchObject({ limit: 5, offset: 0, total: 1 });
    expect(listed.body.items[0].id).toBe(id);

    const patched = await call('PATCH', `/api/v1/tasks/${id}`, { title: 'renamed', priority: 'HIGH' });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ title: 'renamed', priority: 'HIGH' });

    const cancelled = await call('DELETE', `/api/v1/tasks/${id}`);
    expect(cancelled.status).toBe(200);
    expect(cancelled.body).toMatchObject({ status: 'CANCELLED', finished_at: expect.stringMatching(ISO) });
    expect((await call('DELETE', `/api/v1/tasks/${id}`)).status).toBe(409);

    const retried = await call('POST', `/api/v1/tasks/${id}/retry`);
    expect(retried.status).toBe(200);
    expect(retried.body).toMatchObject({ status: 'PENDING', finished_at: null });

    const history = await call('GET', `/api/v1/tasks/${id}/events`);
    expect(history.body.items.map((e: { to_status: string }) => e.to_status)).toEqual(['NEW', 'PENDING', 'CANCELLED', 'PENDING']);
  });

  it('20 parallel cancels of one task: one 200, nineteen 409', async () => {
    const { body: task } = await call('POST', '/api/v1/tasks', { title: 'race' });
    const codes = await Promise.all(Array.from({ length: 20 }, () => call('DELETE', `/api/v1/tasks/${task.id}`).then((r) => r.status)));
    expect(codes.filter((c) => c === 200)).toHaveLength(1);
    expect(codes.filter((c) => c === 409)).toHaveLength(19);
  });

  it('answers the error contract with problem+json', async () => {
    const cases: Array<[string, string, unknown, Record<string, string> | undefined, number, string | RegExp]> = [
      ['POST', '/api/v1/tasks', '{not json', undefined, 400, /not valid JSON/],
      ['POST', '/api/v1/tasks', { title: 'x', description: 'y'.repeat(300_000) }, undefined, 413, /limit is 262144 bytes/],
      ['POST', '/api/v1/tasks', 'title=x', { 'content-type': 'text/plain' }, 415, /text\/plain/],
      ['POST', '/api/v1/tasks', { title: 'x', type: 'nope' }, undefined, 422, 'Unknown task type'],
      ['GET', '/api/v1/tasks?limit=500', undefined, undefined, 422, 'Invalid query parameters'],
      ['GET', '/api/v1/tasks/not-a-uuid', undefined, undefined, 422, 'Invalid path parameters'],
      ['GET', '/api/v1/tasks/3b241101-e2bb-4255-8caf-4136c566a962', undefined, undefined, 404, 'Task not found'],
      ['GET', '/api/v2/whatever', undefined, undefined, 404, 'No route for GET /api/v2/whatever'],
    ];
    for (const [method, path, body, headers, status, detail] of cases) {
      const res = await call(method, path, body, headers);
      expect(res.status, `${method} ${path}`).toBe(status);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
      expect(res.body).toMatchObject({
        type: 'about:blank',
        status,
        detail: typeof detail === 'string' ? detail : expect.stringMatching(detail),
      });
      expect(res.text).not.toMatch(/at .*\.(ts|js):\d+/);
    }
  });

  it('serves the OpenAPI document, the same as openapi.yaml', async () => {
    const res = await call('GET', '/openapi.json');
    expect(res.status).toBe(200);
    expect(res.body).toEqual(parse(readFileSync('openapi.yaml', 'utf8')));
    expect(Object.keys(res.body.paths)).toEqual(
      expect.arrayContaining([
        '/api/v1/tasks',
        '/api/v1/tasks/{id}',
        '/api/v1/tasks/{id}/status',
        '/api/v1/tasks/{id}/events',
        '/api/v1/tasks/{id}/retry',
        '/health',
      ]),
    );
  });

  it('serves Swagger UI at /docs with its assets', async () => {
    const page = await call('GET', '/docs');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    expect(page.text).toContain('SwaggerUIBundle');
    const js = await call('GET', '/docs/swagger-ui-bundle.js');
    expect(js.status).toBe(200);
    expect(js.text.length).toBeGreaterThan(100_000);
    const css = await call('GET', '/docs/swagger-ui.css');
    expect(css.headers.get('content-type')).toContain('text/css');
    expect((await call('GET', '/docs/..%2Fpackage.json')).status).toBe(404);
  });
});
