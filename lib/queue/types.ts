/** Logical queue names shared by every driver (RabbitMQ queues, SQS queues, rows of the embedded queue). */
export const QUEUES = ['tasks', 'task_intake'] as const;
export type QueueName = (typeof QUEUES)[number];
export type DeadLetterQueueName = `${QueueName}.dlq`;
export type AnyQueueName = QueueName | DeadLetterQueueName;

export const deadLetterQueueOf = (queue: QueueName): DeadLetterQueueName => `${queue}.dlq`;

/** A message to publish. `priority` is 0 (lowest) to 9; `delayMs` postpones delivery. */
export interface OutgoingMessage {
  body: string;
  priority?: number;
  delayMs?: number;
}

/** A message handed to a consumer. `id` is unique among messages in flight; `receiveCount` starts at 1. */
export interface ReceivedMessage {
  id: string;
  body: string;
  priority: number;
  receiveCount: number;
}

/** What a consumer's handler answers for a batch: the ids of the messages that must be delivered again. */
export interface MessageBatchOutcome {
  failedIds: string[];
}

export type MessageBatchHandler = (messages: ReceivedMessage[]) => Promise<MessageBatchOutcome>;

export interface ConsumeOptions {
  /**
   * Messages in hand at once (slots): the consumer takes no more than it has free slots, and a message's slot frees
   * as soon as its batch's handler has answered, so that the next message starts without waiting for other batches.
   */
  slots: number;
  /** Most messages handed to the handler at once (1–10, as SQS); a batch holds its slots until its handler answers. */
  batchSize: number;
}

/** Most messages in one batch, in every driver (SQS's limit). */
export const MAX_BATCH_SIZE = 10;

/** How long a stopping consumer waits for the batches in hand, unless told otherwise. */
export const DEFAULT_STOP_TIMEOUT_MS = 30_000;

/** Consume options made whole numbers in range: at least one slot, 1 to MAX_BATCH_SIZE messages per batch. */
export const consumeOptionsInRange = ({ slots, batchSize }: ConsumeOptions): ConsumeOptions => ({
  slots: Math.max(1, Math.floor(slots)),
  batchSize: Math.min(MAX_BATCH_SIZE, Math.max(1, Math.floor(batchSize))),
});

/** A message's priority as the drivers store it: a whole number from 0 to 9. */
export const clampPriority = (p: number | undefined) => Math.min(9, Math.max(0, Math.round(p ?? 0)));

export interface Consumer {
  /** Stops taking messages, waits for the batches in hand (up to `timeoutMs`), hands back what is left. */
  stop(timeoutMs?: number): Promise<void>;
}

/** A message queue as the service sees it; exposes no driver types. */
export interface Queue {
  readonly driver: 'postgres' | 'rabbitmq' | 'sqs';
  /** Publishes messages durably: resolves only once the broker has them. */
  publish(queue: AnyQueueName, messages: OutgoingMessage[]): Promise<void>;
  /** Delivers messages to `handler` until stopped; a failed or thrown batch is delivered again. */
  consume(queue: AnyQueueName, handler: MessageBatchHandler, options: ConsumeOptions): Promise<Consumer>;
  /** Messages waiting in a queue (an estimate where the broker gives one). */
  depth(queue: AnyQueueName): Promise<number>;
  /** Removes every message from a queue (tests and tooling). */
  purge(queue: AnyQueueName): Promise<void>;
  /** Throws when the broker cannot be reached. */
  check(): Promise<void>;
  close(): Promise<void>;
}
