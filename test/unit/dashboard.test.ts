import { readdirSync, readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { handler } from '../../functions/dashboard';
import { httpEvent, invoke } from '../helpers/lambda';

const get = (path: string, headers?: Record<string, string>) =>
  invoke(
    handler,
    httpEvent({
      method: 'GET',
      path: `/dashboard${path ? `/${path}` : ''}`,
      routeKey: path ? 'GET /dashboard/{path+}' : 'GET /dashboard',
      pathParameters: path ? { path } : undefined,
      headers,
    }),
  );

describe('the dashboard function (static files of dashboard/dist)', () => {
  let html: string;
  let script: string;
  beforeAll(async () => {
    html = readFileSync('dashboard/dist/index.html', 'utf8');
    script = readdirSync('dashboard/dist/assets').find((f) => f.endsWith('.js')) as string;
  }, 120_000);

  it('answers the page for /dashboard and for every route of the page, never cached', async () => {
    for (const path of ['', 'tasks/0b9f3c3e-1c59-4b43-9a0a-5a7d2f1f4a10', 'index.html', 'anything/else']) {
      const res = await get(path);
      expect(res).toEqual({
        statusCode: 200,
        headers: expect.objectContaining({
          'content-type': 'text/html; charset=utf-8',
          'cache-control': 'no-cache',
          'content-security-policy': expect.stringContaining("default-src 'self'"),
          'x-content-type-options': 'nosniff',
          etag: expect.stringMatching(/^"[\w-]+"$/),
        }),
        body: html,
      });
    }
    expect(html).toContain(`/dashboard/assets/${script}`);
  });

  it('answers the hashed assets with their type, cached for a year', async () => {
    const res = await get(`assets/${script}`);
    expect(res.statusCode).toBe(200);
    expect(res.headers).toMatchObject({
      'content-type': 'text/javascript; charset=utf-8',
      'cache-control': 'public, max-age=31536000, immutable',
    });
    expect(res.body).toBe(readFileSync(`dashboard/dist/assets/${script}`, 'utf8'));
    expect((await get('favicon.svg')).headers['content-type']).toBe('image/svg+xml');
  });

  it('answers 304 when the browser has the same version', async () => {
    const first = await get('');
    const again = await get('', { 'if-none-match': first.headers.etag as string });
    expect(again.statusCode).toBe(304);
    expect(again.body).toBe('');
  });

  it('answers 404 for a file it does not have, and never leaves its folder', async () => {
    for (const path of [
      'assets/missing.js',
      '../package.json',
      'assets/../../vite.config.ts',
      '..%2F..%2Fpackage.json',
      'x/.env.js',
      'a.exe',
    ]) {
      const res = await get(path);
      expect(res.statusCode, path).toBe(404);
      expect(res.headers['content-type']).toBe('application/problem+json');
    }
  });
});
