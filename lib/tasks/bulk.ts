import { mapConcurrently } from '#lib/concurrency';
import { cancelTask, retryTask } from '#lib/tasks/commands';
import type { BulkActionInput, Task } from '#lib/tasks/schemas';

/** Tasks acted on at once: enough to be quick, few enough to leave the pool's other connections free. */
const CONCURRENCY = 4;

/** What became of one task of a bulk action: the task, or the error its single-task route would have met. */
export type BulkOutcome = { id: string; task: Task; error?: undefined } | { id: string; task?: undefined; error: unknown };

/** Cancels or retries each task as its single-task route would, one outcome per task in order (repeated ids once). */
export async function bulkAction({ action, ids }: BulkActionInput): Promise<BulkOutcome[]> {
  return mapConcurrently([...new Set(ids)], CONCURRENCY, async (id): Promise<BulkOutcome> => {
    try {
      return { id, task: action === 'cancel' ? await cancelTask(id) : await retryTask(id) };
    } catch (error) {
      return { id, error };
    }
  });
}
