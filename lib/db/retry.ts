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

/** Whether an error (or one of its causes) says the database could not be reached. */
export function isConnectionError(err: unknown): boolean {
  for (let e = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const { code, message } = e as { code?: string; message?: string };
    if (code && CONNECTION_CODES.has(code)) return true;
    if (message && /Connection terminated|timeout exceeded when trying to connect|connect ECONNREFUSED/.test(message)) return true;
  }
  return false;
}

/** Runs `fn`, trying again while the database is unreachable, for at most `timeoutMs`; other errors are thrown at once. */
export async function whileDatabaseIsAway<T>(fn: () => Promise<T>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let wait = 100; ; wait = Math.min(wait * 2, 2_000)) {
    try {
      return await fn();
    } catch (err) {
      if (!isConnectionError(err) || Date.now() + wait > deadline) throw err;
      await sleep(wait);
    }
  }
}
