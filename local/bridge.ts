import http from 'node:http';
import { config } from '#lib/config';
import { logger } from '#lib/logger';
import { queue } from '#lib/queue/client';
import { type BatchResponse, toRabbitMqEvent, toSqsEvent } from '#lib/queue/events';
import type { AnyQueueName, Consumer, ReceivedMessage } from '#lib/queue/types';
import { runCallbackSender } from '#lib/tasks/callbacks';
import { runReleaseLoop } from '#lib/tasks/scheduler';

/** Which function consumes which queue (function names as in serverless.yml). */
export const CONSUMERS: Record<AnyQueueName, string> = {
  tasks: 'processor',
  task_intake: 'intake',
  // Messages a broker dead-lettered itself become rows of the dead-letter table.
  'tasks.dlq': 'deadLetters',
  'task_intake.dlq': 'deadLetters',
};

export interface BridgeOptions {
  /** serverless-offline's Lambda endpoint. */
  lambdaUrl: string;
  /** Prefix of deployed function names: `<service>-<stage>-`. */
  functionPrefix: string;
  /** Messages in hand at once: task runs that go on at the same time. */
  slots: number;
  /** Most messages per invocation; an invocation holds its messages' slots until it answers. */
  batchSize: number;
  /** How often the dispatcher function runs; 0 turns it off. */
  dispatchEveryMs: number;
  /** How often, within each dispatcher run, it looks for due recurring schedules (when finer than `dispatchEveryMs`). */
  scheduleTickMs: number;
  /** Longest pause of the releaser of scheduled tasks, which the bridge runs itself (as the cloud's dispatcher does between its rounds); 0 turns it off. */
  releaseEveryMs: number;
  /** Longest wait for one invocation. */
  invokeTimeoutMs: number;
  /** Send task callbacks, as the cloud's dispatcher does while it runs (lib/tasks/callbacks.ts). */
  callbacks: boolean;
}

export interface Bridge {
  /** Stops taking messages, lets running invocations finish (up to `timeoutMs`), hands back the rest. */
  stop(timeoutMs?: number): Promise<void>;
}

// Invocations reuse their connections: a new TCP connection (or `fetch`'s machinery) per batch costs more than the batch.
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

/** POSTs a JSON body and answers the status, the function-error header and the body. */
function post(url: string, body: string, timeoutMs: number): Promise<{ status: number; functionError: boolean; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', fail);
        res.on('end', () => {
          clearTimeout(timer);
          resolve({
            status: res.statusCode ?? 0,
            functionError: Boolean(res.headers['x-amz-function-error']),
            text: Buffer.concat(chunks).toString('utf8'),
          });
        });
      },
    );
    const timer = setTimeout(() => req.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    function fail(err: Error) {
      clearTimeout(timer);
      reject(err);
    }
    req.on('error', fail);
    req.end(body);
  });
}

/** Calls a function through serverless-offline's Lambda invoke API and returns its JSON answer. */
export async function invokeFunction(
  o: Pick<BridgeOptions, 'lambdaUrl' | 'functionPrefix' | 'invokeTimeoutMs'>,
  name: string,
  event: unknown,
) {
  const res = await post(
    `${o.lambdaUrl}/2015-03-31/functions/${o.functionPrefix}${name}/invocations`,
    JSON.stringify(event),
    o.invokeTimeoutMs,
  );
  if (res.status !== 200 || res.functionError) {
    throw new Error(`${name} failed (${res.status}): ${res.text.slice(0, 500)}`);
  }
  return res.text ? JSON.parse(res.text) : null;
}

/**
 * The local stand-in for Lambda's event source mappings: consumes each queue in `slots` (messages in hand at once,
 * the next taken as soon as one is settled), invokes the consumer function with the cloud's event shape for every
 * batch of up to `batchSize` at once, and acknowledges only what succeeded.
 */
export async function startBridge(o: BridgeOptions): Promise<Bridge> {
  const q = queue();
  const consumers: Consumer[] = [];
  for (const [name, fn] of Object.entries(CONSUMERS) as Array<[AnyQueueName, string]>) {
    const toEvent = q.driver === 'rabbitmq' ? toRabbitMqEvent : toSqsEvent;
    const consumer = await q.consume(
      name,
      async (messages: ReceivedMessage[]) => {
        try {
          const answer = (await invokeFunction(o, fn, toEvent(name, messages))) as BatchResponse | null;
          return { failedIds: (answer?.batchItemFailures ?? []).map((f) => f.itemIdentifier) };
        } catch (err) {
          logger.error('invocation failed; the batch will be delivered again', { function: fn, error: err as Error });
          return { failedIds: messages.map((m) => m.id) };
        }
      },
      { slots: o.slots, batchSize: o.batchSize },
    );
    consumers.push(consumer);
  }
  let dispatching: Promise<void> = Promise.resolve();
  // The maintenance once per run; the schedules' tick at its own finer cadence until shortly before the next run.
  const dispatcherEvent =
    o.scheduleTickMs < o.dispatchEveryMs ? { schedules_for_ms: Math.min(o.dispatchEveryMs - o.scheduleTickMs / 2, 59_000) } : {};
  const timer =
    o.dispatchEveryMs > 0
      ? setInterval(() => {
          dispatching = invokeFunction(o, 'dispatcher', dispatcherEvent)
            .then(() => undefined)
            .catch((err) => logger.warn('dispatcher run failed', { error: err as Error }));
        }, o.dispatchEveryMs)
      : undefined;
  // In this process rather than through the dispatcher function: an invocation every 250 ms through
  // serverless-offline would cost more than the release itself.
  const releasing = new AbortController();
  const released = o.releaseEveryMs > 0 ? runReleaseLoop({ everyMs: o.releaseEveryMs, signal: releasing.signal }) : Promise.resolve(0);
  // The callback sender runs in this process, listening for new deliveries: a callback goes out within moments of
  // its task's end, rather than at the next dispatcher run.
  const stopCallbacks = new AbortController();
  const sending = o.callbacks
    ? runCallbackSender({ signal: stopCallbacks.signal, listen: true }).catch((err) =>
        logger.error('callback sender stopped', { error: err as Error }),
      )
    : Promise.resolve();
  logger.info('bridge started', { driver: q.driver, slots: o.slots, batch_size: o.batchSize });
  return {
    async stop(timeoutMs = 30_000) {
      clearInterval(timer);
      releasing.abort();
      await released;
      stopCallbacks.abort();
      await Promise.all(consumers.map((c) => c.stop(timeoutMs)));
      await dispatching;
      await sending;
    },
  };
}

/** Bridge options from the config and the serverless-offline ports. */
export function bridgeOptionsFromConfig(lambdaUrl: string): BridgeOptions {
  const c = config();
  return {
    lambdaUrl,
    functionPrefix: `async-task-service-${c.STAGE}-`,
    slots: c.WORKER_CONCURRENCY,
    batchSize: c.WORKER_BATCH_SIZE,
    dispatchEveryMs: c.OUTBOX_INTERVAL_MS,
    scheduleTickMs: c.SCHEDULE_TICK_MS,
    releaseEveryMs: c.RELEASE_INTERVAL_MS,
    invokeTimeoutMs: 15 * 60_000,
    callbacks: true,
  };
}
