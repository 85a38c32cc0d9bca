import { logger } from '#lib/logger';
import { type BatchResponse, type EventMessage, messagesOf, type QueueEvent } from '#lib/queue/events';

/** Handles a queue event message by message (at most `concurrency` at once), answering the failed ones. */
export async function handleQueueEvent(
  event: QueueEvent,
  handle: (message: EventMessage) => Promise<'done' | 'retry'>,
  concurrency = 10,
): Promise<BatchResponse> {
  const messages = messagesOf(event);
  const failures: string[] = [];
  let next = 0;
  const worker = async () => {
    while (next < messages.length) {
      const m = messages[next++] as EventMessage;
      try {
        if ((await handle(m)) === 'retry') failures.push(m.id);
      } catch (err) {
        logger.error('message failed; it will be delivered again', { message_id: m.id, error: err as Error });
        failures.push(m.id);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, messages.length) }, worker));
  return { batchItemFailures: failures.map((itemIdentifier) => ({ itemIdentifier })) };
}
