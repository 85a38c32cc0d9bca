import { createHmac } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { mapConcurrently } from '#lib/concurrency';
import { config } from '#lib/config';
import {
  type ClaimedDelivery,
  claimDueDeliveries,
  type DeliveryListener,
  listCallbackAttempts,
  listenForDeliveries,
  nextDeliveryDueInMs,
  recordAttempt,
} from '#lib/db/callbacks';
import { db } from '#lib/db/client';
import type { TaskRow } from '#lib/db/schema';
import { findTaskStatus } from '#lib/db/tasks';
import { logger } from '#lib/logger';
import {
  addressRefusal,
  checkedLookup,
  literalAddress,
  RefusedTargetError,
  type Resolver,
  systemResolver,
} from '#lib/tasks/callback-target';
import { InvalidInputError, NotFoundError } from '#lib/tasks/errors';
import { iso, toTask } from '#lib/tasks/mapping';

// Callbacks: when a task with a `callback_url` ends, the service POSTs `{ event, task }` to it, signed. The delivery
// row is written with the task's end (a trigger, see lib/db/callbacks.ts), so it is never lost and never delays the
// task; senders (the local bridge, the cloud's dispatcher) deliver it with retries.

/** Pauses after the 1st, 2nd, ... failed attempt, in CALLBACK_RETRY_BASE_MS: 10 s, 30 s, 1 min, 5 min, 15 min, 30 min, 1 h. */
const BACKOFF_FACTORS = [1, 3, 6, 30, 90, 180, 360];

/** The pause after failed attempt `attempt` (from 1), capped at CALLBACK_RETRY_MAX_MS. */
export function retryDelayMs(attempt: number, c = config()): number {
  const factor = BACKOFF_FACTORS[Math.min(attempt, BACKOFF_FACTORS.length) - 1] as number;
  return Math.min(factor * c.CALLBACK_RETRY_BASE_MS, c.CALLBACK_RETRY_MAX_MS);
}

/** `sha256=<hex HMAC-SHA256 of the body>`, the X-Signature header. */
export function signature(body: string, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/**
 * Refuses a callback_url the service cannot send to: callbacks not configured (no CALLBACK_SECRET: never unsigned),
 * or an IP literal that the send would refuse anyway. A name is checked when it is resolved, at send time.
 */
export function checkCallbackUrl(url: string | undefined): void {
  if (url === undefined) return;
  const c = config();
  if (!c.CALLBACK_SECRET) {
    throw new InvalidInputError([{ path: 'callback_url', message: 'callbacks are not configured on this service (no CALLBACK_SECRET)' }]);
  }
  const address = literalAddress(new URL(url));
  const refusal = address && addressRefusal(address, c.CALLBACK_ALLOW_PRIVATE);
  if (refusal) throw new InvalidInputError([{ path: 'callback_url', message: `not allowed: ${refusal}` }]);
}

/** The body of a delivery: the event and the task as the API shows it, as it was when it ended. */
export function callbackBody(d: Pick<ClaimedDelivery, 'event' | 'task'>): string {
  // The row went through to_jsonb: the same keys as TaskRow, timestamps as ISO text, which toTask's iso() reads.
  return JSON.stringify({ event: d.event, task: toTask(d.task as unknown as TaskRow) });
}

/** The outcome of one POST. */
export interface SendResult {
  statusCode: number | null;
  error: string | null;
  durationMs: number;
}

export interface SendOptions {
  /** Resolves host names (tests inject one); the system's resolver by default. */
  resolve?: Resolver;
}

/** POSTs one delivery, once, and answers how it went: success is a 2xx answer within CALLBACK_TIMEOUT_MS. */
export async function sendCallback(d: ClaimedDelivery, o: SendOptions = {}): Promise<SendResult> {
  const c = config();
  const started = performance.now();
  const result = (statusCode: number | null, error: string | null): SendResult => ({
    statusCode,
    error,
    durationMs: performance.now() - started,
  });
  if (!c.CALLBACK_SECRET) return result(null, 'not sent: CALLBACK_SECRET is not set');
  let url: URL;
  try {
    url = new URL(d.url);
  } catch {
    return result(null, 'not sent: the callback_url is not a URL');
  }
  const address = literalAddress(url);
  const refusal = address && addressRefusal(address, c.CALLBACK_ALLOW_PRIVATE);
  if (refusal) return result(null, `refused: ${refusal}`);
  const body = callbackBody(d);
  const headers = {
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(body)),
    'user-agent': 'async-task-service-callbacks',
    'x-task-id': d.task_id,
    'x-delivery-id': d.id,
    'x-signature': signature(body, c.CALLBACK_SECRET),
  };
  const request = url.protocol === 'https:' ? https.request : http.request;
  return new Promise<SendResult>((resolve) => {
    // No agent: a fresh connection per attempt, so that every one goes through the checked lookup.
    const req = request(url, {
      method: 'POST',
      headers,
      agent: false,
      lookup: checkedLookup(c.CALLBACK_ALLOW_PRIVATE, o.resolve ?? systemResolver),
    });
    const timer = setTimeout(() => req.destroy(new Error(`no answer within ${c.CALLBACK_TIMEOUT_MS} ms`)), c.CALLBACK_TIMEOUT_MS);
    req.on('response', (res) => {
      clearTimeout(timer);
      // The answer's body is not read: the status says it all.
      res.resume();
      res.on('error', () => {});
      const ok = (res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300;
      resolve(result(res.statusCode ?? null, ok ? null : `answered ${res.statusCode}`));
      req.destroy();
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (err instanceof RefusedTargetError) resolve(result(null, err.message));
      else resolve(result(null, err.code ? `${err.code}: ${err.message}` : err.message));
    });
    req.end(body);
  });
}

/** Sends one claimed delivery and records the attempt: delivered, retried after a pause, or given up. */
async function deliver(d: ClaimedDelivery, o: SendOptions): Promise<void> {
  const sent = await sendCallback(d, o);
  const c = config();
  const delivered = sent.error === null;
  const givenUp = !delivered && Date.now() - d.created_at.getTime() >= c.CALLBACK_RETRY_FOR_MS;
  const next = delivered
    ? ({ state: 'delivered' } as const)
    : givenUp
      ? ({ state: 'failed' } as const)
      : ({ state: 'pending', retryInMs: retryDelayMs(d.attempts, c) } as const);
  await recordAttempt(db(), { deliveryId: d.id, taskId: d.task_id, attempt: d.attempts, ...sent, next });
  const log = { task_id: d.task_id, delivery_id: d.id, attempt: d.attempts, status_code: sent.statusCode };
  if (delivered) logger.debug('callback delivered', log);
  else if (givenUp) logger.warn('callback given up', { ...log, error: sent.error });
  else logger.info('callback failed, will retry', { ...log, error: sent.error, retry_in_ms: (next as { retryInMs: number }).retryInMs });
}

/** An attempt may take CALLBACK_TIMEOUT_MS and its record a little more: its claim lasts that and a margin. */
const leaseMs = () => config().CALLBACK_TIMEOUT_MS + 30_000;

/** Sends the callbacks due now, CALLBACK_CONCURRENCY at once, until none is due. Returns how many attempts were made. */
export async function deliverDueCallbacks(o: SendOptions = {}): Promise<number> {
  const limit = config().CALLBACK_CONCURRENCY;
  let made = 0;
  for (;;) {
    const claimed = await claimDueDeliveries(db(), limit, leaseMs());
    await mapConcurrently(claimed, limit, (d) => deliver(d, o));
    made += claimed.length;
    if (claimed.length < limit) return made;
  }
}

export interface SenderOptions extends SendOptions {
  /** Stops the sender (it lets the attempts in flight finish). */
  signal: AbortSignal;
  /** Listen for new deliveries (a connection of its own) to send them at once, rather than at the next poll. */
  listen?: boolean;
}

/**
 * Sends callbacks until `signal` aborts: up to CALLBACK_CONCURRENCY attempts in flight, a slot refilled as soon as
 * it frees, woken by a new delivery's notification, by the next retry falling due, or every CALLBACK_POLL_MS.
 * A failing database is waited out. Resolves once stopped and the attempts in flight have ended.
 */
export async function runCallbackSender(o: SenderOptions): Promise<void> {
  const c = config();
  const inFlight = new Set<Promise<void>>();
  let wake: (() => void) | undefined;
  let woken = false;
  const poke = () => {
    woken = true;
    wake?.();
  };
  o.signal.addEventListener('abort', poke);
  let listener: DeliveryListener | undefined;
  const listen = async () => {
    if (!o.listen || o.signal.aborted || listener) return;
    try {
      listener = await listenForDeliveries(c.DATABASE_URL, poke);
      const current = listener;
      void current.closed.then(() => {
        if (listener === current) listener = undefined;
      });
    } catch (err) {
      logger.warn('callback sender cannot listen for deliveries; polling', { error: err as Error });
    }
  };
  try {
    while (!o.signal.aborted) {
      await listen();
      woken = false;
      let waitMs = c.CALLBACK_POLL_MS;
      try {
        const free = c.CALLBACK_CONCURRENCY - inFlight.size;
        if (free > 0) {
          const claimed = await claimDueDeliveries(db(), free, leaseMs());
          for (const d of claimed) {
            const p: Promise<void> = deliver(d, o)
              .catch((err) =>
                logger.error('callback attempt not recorded; retried after its lease', { delivery_id: d.id, error: err as Error }),
              )
              .finally(() => {
                inFlight.delete(p);
                poke();
              });
            inFlight.add(p);
          }
          if (claimed.length === free) continue;
          const due = await nextDeliveryDueInMs(db());
          if (due !== undefined) waitMs = Math.min(waitMs, Math.max(due, 10));
        }
      } catch (err) {
        logger.warn('callback sender: database error; trying again', { error: err as Error });
      }
      if (woken || o.signal.aborted) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, waitMs);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = undefined;
    }
  } finally {
    o.signal.removeEventListener('abort', poke);
    await listener?.close();
    await Promise.all(inFlight);
  }
}

/** Runs the sender for `forMs` (the cloud's dispatcher invocation), listening for new deliveries. */
export async function runCallbackSenderFor(forMs: number): Promise<void> {
  await runCallbackSender({ signal: AbortSignal.timeout(forMs), listen: true });
}

/** The callback attempts of a task, oldest first; NotFoundError when there is no such task. */
export async function getTaskCallbacks(id: string) {
  const [exists, attempts] = await Promise.all([findTaskStatus(db(), id), listCallbackAttempts(db(), id)]);
  if (!exists) throw new NotFoundError();
  return { items: attempts.map((a) => ({ ...a, at: iso(a.at) as string })) };
}
