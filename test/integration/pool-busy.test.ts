import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { db } from '#lib/db/client';
import { handler as list } from '../../functions/tasks-list';
import { useTestApp } from '../helpers/app';
import { httpEvent, invoke } from '../helpers/lambda';

// The setting of the issue: a pool of 3 connections (serverless.yml's setting then) for all the concurrent invocations
// of a function, and a request waiting at most 5 s for one of them.
const app = useTestApp({ DATABASE_POOL_MAX: '3', DATABASE_POOL_WAIT_MS: '5000' });

const search = (term: string) => invoke(list, httpEvent({ method: 'GET', path: '/api/v1/tasks', query: { search: term } }));

/** Statements running pg_sleep on the server, seen from another connection. */
async function sleepers(): Promise<number> {
  const r = await app.db.pool.query(
    `SELECT count(*)::int AS n FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep%' AND datname = current_database()`,
  );
  return r.rows[0].n;
}

describe('a pool with more requests than connections', () => {
  it('answers 503 "busy" with Retry-After: 1 when every connection is taken by a slow statement, then serves again', async () => {
    // Three slow statements take the three connections of the process-wide pool the handler uses.
    // (Drizzle sends a query when its result is asked for.)
    const slow = Array.from({ length: 3 }, () => Promise.resolve(db().execute(sql`SELECT pg_sleep(7)`)));
    await expect.poll(sleepers, { timeout: 3_000 }).toBe(3);

    const busy = await search('anything');
    expect(busy.statusCode).toBe(503);
    expect(busy.headers).toMatchObject({ 'content-type': 'application/problem+json', 'retry-after': '1' });
    expect(busy.body).toEqual({
      type: 'about:blank',
      title: 'Service Unavailable',
      status: 503,
      detail: 'The service is busy; try again shortly',
      instance: '/api/v1/tasks',
      request_id: busy.headers['x-request-id'],
    });

    await Promise.all(slow);
    expect(await search('anything')).toMatchObject({ statusCode: 200, body: { items: [], total: 0 } });
  }, 20_000);

  it('answers 40 concurrent searches over many tasks with 200 or 503 busy, never "unreachable"', async () => {
    // The issue had a million tasks; 300,000 are enough for 40 searches (two full scans each) to keep the three
    // connections busy past the 5 s an acquire waits, on a 2-core machine, and are inserted in a few seconds.
    // The setup is not what is measured: it may outlast the service's statement timeout on a busy machine (the
    // trigram indexes make the insert the slowest part), so it runs without one.
    await app.db.db.transaction(async (tx) => {
      await tx.execute(sql`SET LOCAL statement_timeout = 0`);
      await tx.execute(sql`
        INSERT INTO tasks (type, title, description, status, created_at, updated_at)
        SELECT 'emulate', 'Task ' || g, 'Resize the images of order ' || g || ' and upload them to the archive',
               'COMPLETED', now() - g * interval '1 second', now()
        FROM generate_series(1, 300000) g`);
    });
    await app.db.db.execute(sql`ANALYZE tasks`);

    const started = Date.now();
    const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => search(`no such order ${i}`)));
    const ms = Date.now() - started;

    const kinds = answers.map((a) => (a.statusCode === 200 ? '200' : `${a.statusCode} ${a.body?.detail}`));
    const tally = Object.fromEntries([...new Set(kinds)].map((k) => [k, kinds.filter((x) => x === k).length]));
    console.log(`40 concurrent searches in ${ms} ms:`, tally);
    for (const a of answers) expect(JSON.stringify(a.body)).not.toMatch(/unreachable/i);
    for (const a of answers) {
      if (a.statusCode === 200) expect(a.body).toMatchObject({ items: [], total: 0 });
      else
        expect(a).toMatchObject({
          statusCode: 503,
          headers: { 'retry-after': '1' },
          body: { detail: 'The service is busy; try again shortly' },
        });
    }
  }, 120_000);
});
