import { mapConcurrently } from '#lib/concurrency';
import { logger } from '#lib/logger';
import { type BatchResponse, type EventMessage, messagesOf, type QueueEvent } from '#lib/queue/events';

/** Handles a queue event message by message (at most `concurrency` at once), answering the failed ones. */
export async function handleQueueEvent(
  event: QueueEvent,
  handle: (message: EventMessage) => Promise<'done' | 'retry'>,
  concurrency = 10,
): Promise<BatchResponse> {
  const messages = messagesOf(event);
  const outcomes = await mapConcurrently(messages, concurrency, async (m) => {
    try {
      return await handle(m);
    } catch (err) {
      logger.error('message failed; it will be delivered again', { message_id: m.id, error: err as Error });
      return 'retry';
    }
  });
  const failures = messages.filter((_, i) => outcomes[i] === 'retry');
  return { batchItemFailures: failures.map((m) => ({ itemIdentifier: m.id })) };
}
