import { setTimeout as sleep } from 'node:timers/promises';

const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  '57P01',
  '57P02',
  '57P03',
  '08000',
  '08001',
  '08003',
  '08004',
  '08006',
]);

/** What a pool held when a request gave up waiting for one of its connections. */
export interface PoolState {
  /** Connections of the pool, open or opening. */
  total: number;
  /** Connections open (the others are still opening). */
  connected: number;
  idle: number;
  /** Other requests still waiting for a connection. */
  waiting: number;
}

/**
 * A request waited as long as the pool lets it for a connection while the pool's connections were open and running
 * other statements: the database answers, this process has more work at once than connections. Not an outage.
 */
export class DatabaseBusyError extends Error {
  override name = 'DatabaseBusyError';

  constructor(
    readonly pool: PoolState,
    options?: { cause?: unknown },
  ) {
    super(`every connection of the pool is busy (${pool.connected} open, ${pool.waiting} other requests waiting)`, options);
  }
}

/** PostgreSQL's too_many_connections: the server answers, but takes no more connections (its own or a role's limit). */
const TOO_MANY_CONNECTIONS = '53300';

/** The busy error an error stands for (or has as a cause): a busy pool, or a server that takes no more connections. */
function busyCause(err: unknown): unknown {
  for (let e = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof DatabaseBusyError || (e as { code?: string }).code === TOO_MANY_CONNECTIONS) return e;
  }
  return undefined;
}

/**
 * Whether an error (or one of its causes) says that the database answers but has no connection for this request:
 * every connection of the pool was busy, or the server takes no more connections.
 */
export function isDatabaseBusy(err: unknown): boolean {
  return busyCause(err) !== undefined;
}

/** Whether an error (or one of its causes) says the database could not be reached; a busy pool is not that. */
export function isConnectionError(err: unknown): boolean {
  for (let e = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    // Its cause is pg-pool's "timeout exceeded when trying to connect", which also ends a wait for a server that does not answer.
    if (e instanceof DatabaseBusyError) return false;
    const { code, message } = e as { code?: string; message?: string };
    if (code && CONNECTION_CODES.has(code)) return true;
    // "timeout expired": a client that gave up opening its connection (see BoundedClient in client.ts).
    if (message && /Connection terminated|timeout exceeded when trying to connect|^timeout expired$|connect ECONNREFUSED/.test(message))
      return true;
  }
  return false;
}

/**
 * Runs `fn`, trying again while the database is unreachable (with growing pauses) or the pool is busy (at once: the
 * wait for a connection was the pause), for at most `timeoutMs`; other errors are thrown at once.
 */
export async function whileDatabaseIsAway<T>(fn: () => Promise<T>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let wait = 100; ; ) {
    try {
      return await fn();
    } catch (err) {
      const busy = busyCause(err);
      // A busy pool: the wait for a connection was the pause. A server full of connections: pause as for an outage.
      if (busy instanceof DatabaseBusyError && Date.now() < deadline) continue;
      if (!(busy || isConnectionError(err)) || Date.now() + wait > deadline) throw err;
      await sleep(wait);
      wait = Math.min(wait * 2, 2_000);
    }
  }
}
