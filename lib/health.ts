import { sql } from 'drizzle-orm';
import { db } from '#lib/db/client';
import { logger } from '#lib/logger';
import { queue } from '#lib/queue/client';
import { withTimeout } from '#lib/time';

const CHECK_TIMEOUT_MS = 3_000;

async function probe(check: () => Promise<unknown>): Promise<string> {
  try {
    await withTimeout(check(), CHECK_TIMEOUT_MS, 'health check');
    return 'ok';
  } catch (err) {
    logger.warn('health check failed', { error: err as Error });
    return 'unreachable';
  }
}

/** Checks the database and the queue, each within a bounded time. */
export async function checkHealth() {
  const [database, queueState] = await Promise.all([probe(() => db().execute(sql`SELECT 1`)), probe(() => queue().check())]);
  const status: 'ok' | 'error' = database === 'ok' && queueState === 'ok' ? 'ok' : 'error';
  return { status, checks: { database, queue: queueState } };
}
