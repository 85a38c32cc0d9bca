import { describe, expect, it } from 'vitest';
import { handler as notFound } from '../../functions/not-found';
import { handler as create } from '../../functions/tasks-create';
import { handler as get } from '../../functions/tasks-get';
import { handler as list } from '../../functions/tasks-list';
import { httpEvent, invoke } from '../helpers/lambda';

const post = (body: string | object | undefined, headers?: Record<string, string>) =>
  invoke(create, httpEvent({ method: 'POST', path: '/api/v1/tasks', body, headers }));

const problem = (status: number, title: string, detail: string | RegExp, extra: object = {}) => ({
  type: 'about:blank',
  title,
  status,
  detail: typeof detail === 'string' ? detail : expect.stringMatching(detail),
  instance: expect.any(String),
  request_id: expect.any(String),
  ...extra,
});

describe('request errors are problem+json with the contract status', () => {
  it('400 when the body is not JSON', async () => {
    const res = await post('{"title": ');
    expect(res.statusCode).toBe(400);
    expect(res.headers['content-type']).toBe('application/problem+json');
    expect(res.body).toEqual(problem(400, 'Bad Request', /not valid JSON/));
  });

  it('400 when the body is empty', async () => {
    const res = await post('');
    expect(res.statusCode).toBe(400);
    expect(res.body).toEqual(problem(400, 'Bad Request', /empty/));
  });

  it('400 when the body is not UTF-8', async () => {
    const event = httpEvent({ method: 'POST', path: '/api/v1/tasks', body: 'x' });
    event.body = Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]).toString('base64');
    event.isBase64Encoded = true;
    const res = await invoke(create, event);
    expect(res.statusCode).toBe(400);
    expect(res.body).toEqual(problem(400, 'Bad Request', 'The request body is not valid UTF-8'));
  });

  it('413 when the body is over 256 KiB', async () => {
    const res = await post({ title: 'x', description: 'y'.repeat(256 * 1024) });
    expect(res.statusCode).toBe(413);
    expect(res.body).toEqual(problem(413, 'Content Too Large', /limit is 262144 bytes/));
  });

  it('415 when the content type is not JSON', async () => {
    const res = await post('title=x', { 'content-type': 'application/x-www-form-urlencoded' });
    expect(res.statusCode).toBe(415);
    expect(res.body).toEqual(problem(415, 'Unsupported Media Type', /application\/x-www-form-urlencoded/));
  });

  it('accepts JSON with a charset and vendor +json types', async () => {
    const res = await post({ title: ' ' }, { 'content-type': 'application/merge-patch+json; charset=utf-8' });
    expect(res.statusCode).toBe(422);
  });

  it('422 names every failing field', async () => {
    const res = await post({ title: '   ', priority: 'URGENT', max_attempts: 11, extra: 1 });
    expect(res.statusCode).toBe(422);
    expect(res.body).toEqual(
      problem(422, 'Unprocessable Content', 'Invalid body', {
        errors: expect.arrayContaining([
          { path: 'title', message: 'must not be blank' },
          { path: 'priority', message: expect.stringContaining('LOW') },
          { path: 'max_attempts', message: expect.any(String) },
          { path: '(root)', message: expect.stringContaining('extra') },
        ]),
      }),
    );
  });

  it('422 when the title is missing or too long', async () => {
    expect((await post({})).body.errors).toEqual([{ path: 'title', message: expect.any(String) }]);
    expect((await post({ title: 'x'.repeat(256) })).body.errors).toEqual([{ path: 'title', message: 'must be at most 255 characters' }]);
  });

  it('422 for an unknown task type, naming the known ones', async () => {
    const res = await post({ title: 'x', type: 'mine-bitcoin' });
    expect(res.statusCode).toBe(422);
    expect(res.body.errors).toEqual([{ path: 'type', message: "unknown task type 'mine-bitcoin'; known types: emulate, checksum" }]);
  });

  it('422 for a payload that does not fit the type', async () => {
    const res = await post({ title: 'x', payload: { min_ms: 10, max_ms: 5, failure_rate: 2 } });
    expect(res.statusCode).toBe(422);
    expect(res.body.detail).toBe("Invalid payload for task type 'emulate'");
    expect(res.body.errors).toEqual(expect.arrayContaining([{ path: 'payload.failure_rate', message: expect.any(String) }]));
  });

  it('422 for NUL characters and for absurd nesting', async () => {
    const nul = await post({ title: 'a\u0000b' });
    expect(nul.statusCode).toBe(422);
    expect(nul.body.errors).toEqual([{ path: 'title', message: 'must not contain NUL characters' }]);
    let deep: object = {};
    for (let i = 0; i < 40; i++) deep = { d: deep };
    const nested = await post({ title: 'x', payload: deep });
    expect(nested.statusCode).toBe(422);
    expect(nested.body.errors[0].message).toMatch(/nesting deeper than 32/);
  });

  it('422 for a bad Idempotency-Key', async () => {
    const res = await post({ title: 'x' }, { 'idempotency-key': 'k'.repeat(256) });
    expect(res.statusCode).toBe(422);
    expect(res.body.errors).toEqual([{ path: 'Idempotency-Key', message: 'must be 1 to 255 characters' }]);
  });

  it('422 for a path id that is not a UUID', async () => {
    const res = await invoke(get, httpEvent({ method: 'GET', path: '/api/v1/tasks/42', pathParameters: { id: '42' } }));
    expect(res.statusCode).toBe(422);
    expect(res.body).toEqual(
      problem(422, 'Unprocessable Content', 'Invalid path parameters', { errors: [{ path: 'id', message: 'must be a UUID' }] }),
    );
  });

  it.each([
    [{ limit: '0' }, 'limit'],
    [{ limit: '101' }, 'limit'],
    [{ limit: '1e3' }, 'limit'],
    [{ offset: '-1' }, 'offset'],
    [{ offset: '99999999999999999999' }, 'offset'],
    [{ status: 'DONE' }, 'status.0'],
    [{ status: 'PENDING,NOPE' }, 'status.1'],
    [{ priority: 'low' }, 'priority'],
    [{ created_from: 'yesterday' }, 'created_from'],
    [{ search: "x' OR 1=1; --".padEnd(201, 'x') }, 'search'],
  ])('422 for the list query %o', async (query, path) => {
    const res = await invoke(list, httpEvent({ method: 'GET', path: '/api/v1/tasks', query }));
    expect(res.statusCode).toBe(422);
    expect(res.body.errors).toEqual([{ path, message: expect.any(String) }]);
  });

  it('404 problem for an unknown route', async () => {
    const res = await invoke(notFound, httpEvent({ method: 'GET', path: '/api/v2/nothing', routeKey: '$default' }));
    expect(res.statusCode).toBe(404);
    expect(res.body).toEqual(problem(404, 'Not Found', 'No route for GET /api/v2/nothing'));
  });
});

describe('the catch-all route', () => {
  it('serves a path with a trailing slash with its route handler', async () => {
    const res = await invoke(notFound, httpEvent({ method: 'GET', path: '/api/v1/tasks/not-a-uuid/', routeKey: '$default' }));
    expect(res.statusCode).toBe(422);
    expect(res.body.errors).toEqual([{ path: 'id', message: 'must be a UUID' }]);
    const post = await invoke(notFound, httpEvent({ method: 'POST', path: '/api/v1/tasks/', routeKey: '$default', body: { title: '' } }));
    expect(post.statusCode).toBe(422);
    expect(post.body.errors).toEqual([{ path: 'title', message: 'must not be blank' }]);
  });

  it('answers 404 for a trailing slash on an unknown route or the wrong method', async () => {
    expect((await invoke(notFound, httpEvent({ method: 'PUT', path: '/api/v1/tasks/', routeKey: '$default' }))).statusCode).toBe(404);
    expect((await invoke(notFound, httpEvent({ method: 'GET', path: '/nothing/', routeKey: '$default' }))).statusCode).toBe(404);
  });
});

describe('the catch-all route and the routes added later', () => {
  it('hands /docs/ and /dashboard/ to their handlers', async () => {
    const docs = await invoke(notFound, httpEvent({ method: 'GET', path: '/docs/', routeKey: '$default' }));
    expect(docs.statusCode).toBe(200);
    expect(docs.headers['content-type']).toContain('text/html');
    const page = await invoke(notFound, httpEvent({ method: 'GET', path: '/dashboard/', routeKey: '$default' }));
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toContain('text/html');
  });
});

describe('values PostgreSQL cannot store are 422, not 500', () => {
  it('rejects unpaired surrogates anywhere in the body', async () => {
    const res = await post('{"title":"x","payload":{"note":"\\ud800x"}}');
    expect(res.statusCode).toBe(422);
    expect(res.body.errors).toEqual([{ path: 'payload.note', message: 'must not contain unpaired Unicode surrogates' }]);
  });

  it.each([
    [{ type: 'a\u0000b' }, 'type'],
    [{ created_from: '0000-01-01T00:00:00Z' }, 'created_from'],
    [{ created_to: '9999-12-31T23:00:00-05:00' }, 'created_to'],
  ])('rejects the list query %o', async (query, path) => {
    const res = await invoke(list, httpEvent({ method: 'GET', path: '/api/v1/tasks', query }));
    expect(res.statusCode).toBe(422);
    expect(res.body.errors).toEqual([{ path, message: expect.any(String) }]);
  });
});
