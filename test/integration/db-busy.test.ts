import net from 'node:net';
import { sql } from 'drizzle-orm';
import { afterAll, describe, expect, it } from 'vitest';
import { createDb } from '#lib/db/client';
import { isConnectionError, isDatabaseBusy, whileDatabaseIsAway } from '#lib/db/retry';
import { errorResponse } from '#lib/http/problem';
import { useTestApp } from '../helpers/app';

const app = useTestApp();

const failure = (p: Promise<unknown>) =>
  p.then(
    () => expect.unreachable('should have failed'),
    (err: unknown) => err,
  );

describe('a request that waited its whole time for a connection', () => {
  const pools: Array<{ end(): Promise<void> }> = [];
  afterAll(() => Promise.all(pools.map((p) => p.end())));

  it('is "busy" when the connections are open and running statements; whileDatabaseIsAway tries again until its deadline', async () => {
    // One connection; a request waits at most 1 s for it.
    const { db, pool } = createDb(app.db.url, 1, 1_000);
    pools.push(pool);
    const slow = Promise.resolve(db.execute(sql`SELECT pg_sleep(2.5)`));
    await expect.poll(() => pool.totalCount === 1 && pool.idleCount === 0 && pool.waitingCount === 0).toBe(true);

    const started = Date.now();
    const [short, long] = await Promise.all([
      // Past its deadline after the first wait: the busy error itself, not taken for an outage.
      failure(whileDatabaseIsAway(() => db.execute(sql`SELECT 1 AS one`), 500)),
      // Waits again at once, and gets the connection when the slow statement ends.
      whileDatabaseIsAway(() => db.execute(sql`SELECT 1 AS one`), 10_000),
    ]);
    expect(isDatabaseBusy(short)).toBe(true);
    expect(isConnectionError(short)).toBe(false);
    expect(long.rows).toEqual([{ one: 1 }]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(2_000);
    await slow;
  });

  it('is "unreachable" when the connections are still opening (a server that does not answer)', async () => {
    // Accepts TCP connections and never says a word, as a server that hangs or a network that drops the replies.
    const sockets: net.Socket[] = [];
    const server = net.createServer((s) => sockets.push(s)).listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    const url = `postgres://postgres@127.0.0.1:${(server.address() as net.AddressInfo).port}/none`;
    // One connection each; a request waits at most 1 s for it on the first pool, 10 s (the default) on the second.
    const short = createDb(url, 1, 1_000);
    const long = createDb(url, 1, 10_000);
    pools.push(short.pool, long.pool);
    try {
      const [opening, waiting, slowOpening] = await Promise.all([
        // Opens the first pool's connection, given up after the 1 s wait ("Connection terminated due to connection timeout").
        failure(short.db.execute(sql`SELECT 1`)),
        // Waits 1 s for that connection, still opening ("timeout exceeded when trying to connect").
        failure(short.db.execute(sql`SELECT 1`)),
        // Opens the second pool's connection, given up after 5 s by the client itself ("timeout expired").
        failure(long.db.execute(sql`SELECT 1`)),
      ]);
      expect(String((waiting as Error).cause ?? waiting)).toMatch(/timeout exceeded when trying to connect/);
      expect(String((slowOpening as Error).cause ?? slowOpening)).toMatch(/timeout expired/);
      for (const err of [opening, waiting, slowOpening]) {
        expect(isConnectionError(err)).toBe(true);
        expect(isDatabaseBusy(err)).toBe(false);
      }
      const answer = errorResponse(waiting, '/api/v1/tasks', 'r1');
      expect(answer).toMatchObject({ statusCode: 503, headers: { 'retry-after': '5' } });
      expect(JSON.parse(answer.body as string).detail).toBe('The database is unreachable; try again shortly');
    } finally {
      for (const s of sockets) s.destroy();
      server.close();
    }
  });
});

describe('a server that takes no more connections (too_many_connections)', () => {
  it('answers 503 "busy", not 500, and whileDatabaseIsAway waits for a connection to free', async () => {
    // A role allowed one connection: PostgreSQL refuses the second with 53300, as a server at max_connections does.
    const role = `busy_${process.pid}`;
    // With a password: a server that asks for one (the embedded PostgreSQL of a run without DATABASE_URL) refuses an
    // empty one, a trust server ignores it.
    const password = 'busy-role-password';
    await app.db.db.execute(sql.raw(`CREATE ROLE ${role} LOGIN PASSWORD '${password}' CONNECTION LIMIT 1`));
    const url = new URL(app.db.url);
    url.username = role;
    url.password = password;
    const holder = createDb(url.toString(), 1);
    const other = createDb(url.toString(), 1);
    try {
      // The holder's one connection is open before anything else tries (an opening one is not yet counted by the server).
      await holder.db.execute(sql`SELECT 1`);
      const held = Promise.resolve(holder.db.execute(sql`SELECT pg_sleep(1.5)`));
      await expect.poll(() => holder.pool.totalCount === 1 && holder.pool.idleCount === 0).toBe(true);
      const refused = await failure(other.db.execute(sql`SELECT 1`));
      expect(isDatabaseBusy(refused)).toBe(true);
      expect(isConnectionError(refused)).toBe(false);
      const answer = errorResponse(refused, '/api/v1/tasks', 'r2');
      expect(answer.statusCode).toBe(503);
      expect(answer.headers).toMatchObject({ 'retry-after': '1' });
      expect(JSON.parse(answer.body as string)).toMatchObject({ status: 503, detail: 'The service is busy; try again shortly' });
      // Once the first connection is given back, a wait gets through.
      const waited = Promise.resolve(whileDatabaseIsAway(() => other.db.execute(sql`SELECT 1 AS one`), 10_000));
      await held;
      await holder.pool.end();
      expect((await waited).rows).toEqual([{ one: 1 }]);
    } finally {
      await Promise.all([holder.pool.ended ? undefined : holder.pool.end(), other.pool.end()]);
      await app.db.db.execute(sql.raw(`DROP ROLE ${role}`));
    }
  });
});
