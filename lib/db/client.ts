import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres';
import pg from 'pg';
import { config } from '#lib/config';
import { DatabaseBusyError } from '#lib/db/retry';
import * as schema from '#lib/db/schema';

export type Db = NodePgDatabase<typeof schema>;
/** A database handle or an open transaction: query functions accept either. */
export type Executor = Db | Parameters<Parameters<Db['transaction']>[0]>[0];

/** Longest wait for a new connection to open: past it the server is taken for unreachable. */
const CONNECT_TIMEOUT_MS = 5_000;

/** A client that gives up opening its connection after CONNECT_TIMEOUT_MS, however long the pool lets a request wait. */
class BoundedClient extends pg.Client {
  constructor(options?: pg.ClientConfig) {
    // The pool hands every client its own options (connection string included), where connectionTimeoutMillis is the
    // wait for a free connection; a client's own connectionTimeoutMillis bounds the opening only ("timeout expired").
    super({ ...options, connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
  }
}

type ConnectCallback = (err: Error | undefined, client: pg.PoolClient | undefined, done: (release?: unknown) => void) => void;

/** pg-pool's one error for a request that waited its whole connectionTimeoutMillis in the pool's queue. */
const ACQUIRE_TIMEOUT = 'timeout exceeded when trying to connect';

/**
 * A pool that tells a busy pool from a database that does not answer. A request waits in pg-pool's queue when every
 * connection is taken, open and running a statement or still opening, and pg-pool ends either wait with the same
 * error. When connections of the pool are open, the database answers and the wait was for one of them to be free:
 * that is a DatabaseBusyError. When none is (all still opening, for a server that does not answer), the error stays
 * as it is: the database is unreachable.
 */
class ServicePool extends pg.Pool {
  readonly #open = new Set<pg.PoolClient>();

  constructor(options: pg.PoolConfig) {
    super(options);
    this.on('connect', (client) => this.#open.add(client));
    this.on('remove', (client) => this.#open.delete(client as pg.PoolClient));
  }

  override connect(): Promise<pg.PoolClient>;
  override connect(callback: ConnectCallback): void;
  override connect(callback?: ConnectCallback): Promise<pg.PoolClient> | undefined {
    // pool.query() comes here with a callback, transactions without; the error is classified as the wait ends.
    if (callback) {
      super.connect((err, client, done) => callback(this.#classify(err), client, done));
      return;
    }
    return new Promise((resolve, reject) =>
      super.connect((err, client) => (err ? reject(this.#classify(err)) : resolve(client as pg.PoolClient))),
    );
  }

  #classify(err: Error | undefined): Error | undefined {
    if (err?.message !== ACQUIRE_TIMEOUT || this.#open.size === 0) return err;
    const state = {
      total: this.totalCount,
      connected: Math.min(this.#open.size, this.totalCount),
      idle: this.idleCount,
      waiting: this.waitingCount,
    };
    return new DatabaseBusyError(state, { cause: err });
  }
}

/** Creates a pool and a Drizzle handle over it; a request waits at most `waitMs` for one of its `max` connections. */
export function createDb(
  url: string,
  max = config().DATABASE_POOL_MAX,
  waitMs = config().DATABASE_POOL_WAIT_MS,
  /** 0: none (migrations, whose index builds on a large table take minutes). */
  statementTimeoutMs = config().DATABASE_STATEMENT_TIMEOUT_MS,
): { db: Db; pool: pg.Pool } {
  const pool = new ServicePool({
    connectionString: url,
    max,
    Client: BoundedClient,
    // The wait for a free connection; pg-pool also gives up opening one after it, so that the opening of a connection
    // takes at most the shorter of this and CONNECT_TIMEOUT_MS.
    connectionTimeoutMillis: waitMs,
    idleTimeoutMillis: 30_000,
    statement_timeout: statementTimeoutMs,
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
