import { createQueue } from '#lib/queue/factory';
import type { Queue } from '#lib/queue/types';

let shared: Queue | undefined;

/** The process-wide queue client (as configured), created on first use and kept for the container's life. */
export function queue(): Queue {
  shared ??= createQueue();
  return shared;
}

/** Closes the process-wide queue client (scripts and tests). */
export async function closeQueue(): Promise<void> {
  const q = shared;
  shared = undefined;
  await q?.close();
}
