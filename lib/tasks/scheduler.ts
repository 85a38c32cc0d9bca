import { setTimeout as sleep } from 'node:timers/promises';
import { db } from '#lib/db/client';
import { msUntilNextRelease, releaseDueTasks } from '#lib/db/tasks';
import { logger } from '#lib/logger';
import { publishAfterCommit, selfPublishMs } from '#lib/tasks/outbox';

// Scheduled tasks: a task created with a future `run_at` waits SCHEDULED in the table (a queue cannot hold it: SQS
// delays a message 15 minutes at most), and the releaser moves it to PENDING when it is due and publishes its
// message through the outbox, as a create does. Any number of releasers may run: each takes the due rows no other
// holds (FOR UPDATE SKIP LOCKED). Idle, a round is two probes of a partial index that holds only waiting tasks.

/** Shortest pause between rounds. */
const MIN_WAIT_MS = 20;

/** Tasks released in one transaction. */
const RELEASE_BATCH = 500;

/** Releases the SCHEDULED tasks that are due and publishes their messages. Returns how many were released. */
export async function releaseDue(budgetMs = Number.POSITIVE_INFINITY): Promise<number> {
  let total = 0;
  // As dispatchOutbox: batches while the budget lasts, the rest at the next round.
  const until = Date.now() + budgetMs;
  for (; Date.now() <= until; ) {
    const rows = await releaseDueTasks(db(), RELEASE_BATCH, selfPublishMs());
    // One publish for the batch (see `batched`); a failed one leaves the tasks NEW with their outbox rows.
    await Promise.all(rows.map((row) => publishAfterCommit(row)));
    total += rows.length;
    if (rows.length < RELEASE_BATCH) break;
  }
  if (total) logger.info('scheduled tasks released', { released: total });
  return total;
}

/**
 * Releases due tasks until `signal` fires (or `forMs` has passed): after each round it sleeps until the next task
 * is due, but at most `everyMs`, so that a task created or rescheduled meanwhile is seen within `everyMs`. A round
 * that fails (the database away) is logged and tried again after `everyMs`. Returns how many tasks were released.
 */
export async function runReleaseLoop({
  everyMs,
  forMs = Number.POSITIVE_INFINITY,
  signal,
}: {
  everyMs: number;
  forMs?: number;
  signal?: AbortSignal;
}): Promise<number> {
  const until = Date.now() + forMs;
  let released = 0;
  while (!signal?.aborted && Date.now() < until) {
    let waitMs = everyMs;
    try {
      released += await releaseDue();
      const next = await msUntilNextRelease(db());
      // A floor: a due task that another releaser holds right now is not polled for in a busy loop.
      if (next !== null) waitMs = Math.min(everyMs, Math.max(MIN_WAIT_MS, next));
    } catch (err) {
      logger.warn('releasing scheduled tasks failed; trying again', { error: err as Error });
    }
    waitMs = Math.min(waitMs, until - Date.now());
    if (waitMs > 0) await sleep(waitMs, undefined, { signal }).catch(() => undefined);
  }
  return released;
}
