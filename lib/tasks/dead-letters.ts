import { logger } from '#lib/logger';
import { queue } from '#lib/queue/client';
import { deadLetterQueueOf, type QueueName } from '#lib/queue/types';
import type { FieldError } from '#lib/tasks/errors';

/**
 * Sends a message that will never be handled to its queue's dead-letter queue (`<queue>.dlq`), with the reason and
 * the failing fields if any, and logs it: the one path by which the domain dead-letters anything.
 */
export async function deadLetter(from: QueueName, message: string, reason: string, errors?: FieldError[]): Promise<void> {
  const dlq = deadLetterQueueOf(from);
  await queue().publish(dlq, [{ body: JSON.stringify({ reason, errors, message, at: new Date().toISOString() }) }]);
  logger.warn(`message sent to ${dlq}`, { reason, errors });
}
