import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres';
import pg from 'pg';
import { config } from '#lib/config';
import * as schema from '#lib/db/schema';

export type Db = NodePgDatabase<typeof schema>;
/** A database handle or an open transaction: query functions accept either. */
export type Executor = Db | Parameters<Parameters<Db['transaction']>[0]>[0];

/** Creates a pool and a Drizzle handle over it. */
export function createDb(url: string, max = config().DATABASE_POOL_MAX): { db: Db; pool: pg.Pool } {
  const pool = new pg.Pool({
    connectionString: url,
    max,
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
    statement_timeout: config().DATABASE_STATEMENT_TIMEOUT_MS,
    application_name: 'async-task-service',
    // Idle connections do not keep a process alive (scripts, `serverless invoke local`).
    allowExitOnIdle: true,
  });
  // A client that loses its server emits 'error': an idle one through the pool (here), one checked out for a
  // transaction on itself, where nobody listens. Either way the pending query fails with the error; without
  // these listeners the process would crash (with handlers in-process, all of serverless-offline).
  pool.on('error', () => {});
  pool.on('connect', (client) => client.on('error', () => {}));
  return { db: drizzle(pool, { schema }), pool };
}

let shared: { db: Db; pool: pg.Pool } | undefined;

/** The process-wide database handle, created on first use and kept for the container's life. */
export function db(): Db {
  shared ??= createDb(config().DATABASE_URL);
  return shared.db;
}

/** Closes the process-wide pool (scripts and tests). */
export async function closeDb(): Promise<void> {
  const s = shared;
  shared = undefined;
  await s?.pool.end();
}
