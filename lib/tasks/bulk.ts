import { mapConcurrently } from '#lib/concurrency';
import { HttpError } from '#lib/http/errors';
import { logger } from '#lib/logger';
import type { BulkActionInput, BulkActionResult } from '#lib/tasks/schemas';
import { cancelTask, retryTask } from '#lib/tasks/service';

/** Tasks acted on at once: enough to be quick, few enough to leave the pool's other connections free. */
const CONCURRENCY = 4;

type Item = BulkActionResult['items'][number];

async function actOn(action: BulkActionInput['action'], id: string): Promise<Item> {
  try {
    const task = action === 'cancel' ? await cancelTask(id) : await retryTask(id);
    return { id, status: 200, task, error: null };
  } catch (err) {
    if (err instanceof HttpError && err.status < 500) return { id, status: err.status, task: null, error: err.message };
    logger.error('bulk action failed on one task', { action, task_id: id, error: err as Error });
    return { id, status: 500, task: null, error: 'The action failed unexpectedly; try again' };
  }
}

/** Cancels or retries each task as its single-task route would, answering one result per task (repeated ids once). */
export async function bulkAction({ action, ids }: BulkActionInput): Promise<BulkActionResult> {
  const items = await mapConcurrently([...new Set(ids)], CONCURRENCY, (id) => actOn(action, id));
  const succeeded = items.filter((r) => r.status === 200).length;
  return { action, succeeded, failed: items.length - succeeded, items };
}
