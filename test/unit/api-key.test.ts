import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resetConfig } from '#lib/config';
import { handler as docs } from '../../functions/docs';
import { handler as notFound } from '../../functions/not-found';
import { handler as openapi } from '../../functions/openapi';
import { handler as list } from '../../functions/tasks-list';
import { httpEvent, invoke } from '../helpers/lambda';

const KEY = 'test-key-0123456789abcdef';

describe('API_KEYS', () => {
  beforeAll(() => {
    process.env.API_KEYS = `other-key-0123456789abcdef, ${KEY}`;
    resetConfig();
  });
  afterAll(() => {
    delete process.env.API_KEYS;
    resetConfig();
  });

  it('answers 401 without a key and with a wrong one', async () => {
    const none = await invoke(list, httpEvent({ method: 'GET', path: '/api/v1/tasks' }));
    expect(none.statusCode).toBe(401);
    expect(none.body).toMatchObject({ status: 401, title: 'Unauthorized', detail: 'A valid API key is required in the x-api-key header' });
    const wrong = await invoke(list, httpEvent({ method: 'GET', path: '/api/v1/tasks', headers: { 'x-api-key': 'nope' } }));
    expect(wrong.statusCode).toBe(401);
    expect(wrong.body.detail).toBe('The API key is not valid');
  });

  it('lets a valid key through to validation', async () => {
    const res = await invoke(
      list,
      httpEvent({ method: 'GET', path: '/api/v1/tasks', query: { limit: '0' }, headers: { 'X-Api-Key': KEY } }),
    );
    expect(res.statusCode).toBe(422);
  });

  it('answers 404 for an unknown route with or without a key', async () => {
    const res = await invoke(notFound, httpEvent({ method: 'GET', path: '/nothing', routeKey: '$default' }));
    expect(res.statusCode).toBe(404);
  });

  it('keeps the documentation open', async () => {
    expect((await invoke(openapi, httpEvent({ method: 'GET', path: '/openapi.json' }))).statusCode).toBe(200);
    expect((await invoke(docs, httpEvent({ method: 'GET', path: '/docs' }))).statusCode).toBe(200);
  });

  it('refuses short keys in the configuration', async () => {
    const { parseConfig } = await import('#lib/config');
    expect(() => parseConfig({ API_KEYS: 'short' })).toThrow(/API_KEYS/);
  });
});
