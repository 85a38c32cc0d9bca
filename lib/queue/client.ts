import { config } from '#lib/config';
import { createQueue } from '#lib/queue/factory';
import type { Queue } from '#lib/queue/types';

let shared: Queue | undefined;

/** The process-wide queue client, created on first use and kept for the container's life. */
export function queue(): Queue {
  const c = config();
  shared ??= createQueue({
    namespace: c.QUEUE_NAMESPACE || undefined,
    expiresMs: c.RABBITMQ_QUEUE_EXPIRES_MS,
    waitTimeSeconds: c.SQS_WAIT_TIME_SECONDS,
  });
  return shared;
}

/** Closes the process-wide queue client (scripts and tests). */
export async function closeQueue(): Promise<void> {
  const q = shared;
  shared = undefined;
  await q?.close();
}
