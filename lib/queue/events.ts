import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { mapConcurrently } from '#lib/concurrency';
import { logger } from '#lib/logger';
import { type AnyQueueName, QUEUES, type QueueName, type ReceivedMessage } from '#lib/queue/types';

// Lambda's queue events (SQS and Amazon MQ for RabbitMQ): their shapes, how a queue function handles one, and how
// the local bridge builds one from queue messages.

/** The Amazon MQ for RabbitMQ event shape (`aws:rmq`), as Lambda delivers it. */
export interface RabbitMqEvent {
  eventSource: 'aws:rmq';
  eventSourceArn: string;
  rmqMessagesByQueue: Record<
    string,
    Array<{
      basicProperties: {
        messageId?: string | null;
        priority?: number | null;
        headers?: Record<string, unknown> | null;
        [k: string]: unknown;
      };
      redelivered: boolean;
      data: string;
    }>
  >;
}

export type QueueEvent = SQSEvent | RabbitMqEvent;

/** The answer to a queue event: the ids of the messages to deliver again (SQS `ReportBatchItemFailures`). */
export interface BatchResponse {
  batchItemFailures: Array<{ itemIdentifier: string }>;
}

/** One message of a queue event, whatever its source. */
export interface EventMessage {
  id: string;
  body: string;
  receiveCount: number;
  /** For a message of a dead-letter queue: the queue it was dead-lettered from. */
  deadLetterOf?: QueueName;
  /** Why the broker dead-lettered it, when it says (RabbitMQ's `x-death`). */
  brokerReason?: string;
}

/**
 * The queue whose dead-letter queue a queue name is, if it is one: SQS names it `...tasks-dlq` (an ARN's last part),
 * RabbitMQ and the embedded queue `...tasks.dlq`, with or without a namespace or stage prefix.
 */
export function deadLetterQueueOfName(name: string): QueueName | undefined {
  // Longest first: `task_intake` must not be read as ending in `tasks`.
  return [...QUEUES].sort((a, b) => b.length - a.length).find((q) => new RegExp(`(^|[^A-Za-z0-9_])${q}[.-]dlq$`).test(name));
}

/** RabbitMQ's reason for a dead-lettered message (`x-death`: rejected, expired, maxlen, delivery_limit). */
function rabbitDeathReason(headers: Record<string, unknown> | null | undefined): string | undefined {
  const deaths = headers?.['x-death'];
  const first = Array.isArray(deaths) ? (deaths[0] as { reason?: unknown } | undefined) : undefined;
  const reason = first?.reason ?? headers?.['x-first-death-reason'];
  return typeof reason === 'string' ? `RabbitMQ: ${reason}` : undefined;
}

const isRabbit = (e: QueueEvent): e is RabbitMqEvent => (e as RabbitMqEvent).eventSource === 'aws:rmq';

/** The messages of an SQS or RabbitMQ event, in delivery order. */
export function messagesOf(event: QueueEvent): EventMessage[] {
  if (isRabbit(event)) {
    return Object.entries(event.rmqMessagesByQueue ?? {}).flatMap(([key, msgs]) => {
      // Keyed `<queue>::<virtual host>`.
      const deadLetterOf = deadLetterQueueOfName(key.split('::')[0] ?? '');
      return msgs.map((m, i) => ({
        id: m.basicProperties?.messageId ?? String(i),
        body: Buffer.from(m.data, 'base64').toString('utf8'),
        receiveCount: Number(m.basicProperties?.headers?.['x-receive-count'] ?? (m.redelivered ? 2 : 1)),
        deadLetterOf,
        brokerReason: deadLetterOf ? rabbitDeathReason(m.basicProperties?.headers) : undefined,
      }));
    });
  }
  return (event.Records ?? []).map((r: SQSRecord) => ({
    id: r.messageId,
    body: r.body,
    receiveCount: Number(r.attributes?.ApproximateReceiveCount ?? 1),
    deadLetterOf: deadLetterQueueOfName(r.eventSourceARN?.split(':').pop() ?? ''),
  }));
}

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

const ARN_PREFIX = 'arn:aws:sqs:us-east-1:000000000000:';

/** An SQS event carrying queue messages, as Lambda's event source mapping builds it. */
export function toSqsEvent(queue: AnyQueueName, messages: ReceivedMessage[]): SQSEvent {
  return {
    Records: messages.map((m) => ({
      messageId: m.id,
      receiptHandle: m.id,
      body: m.body,
      attributes: {
        ApproximateReceiveCount: String(m.receiveCount),
        SentTimestamp: String(Date.now()),
        SenderId: 'local-bridge',
        ApproximateFirstReceiveTimestamp: String(Date.now()),
      },
      messageAttributes: {},
      md5OfBody: '',
      eventSource: 'aws:sqs',
      eventSourceARN: `${ARN_PREFIX}${queue}`,
      awsRegion: 'us-east-1',
    })),
  };
}

/** An Amazon MQ for RabbitMQ event carrying queue messages. */
export function toRabbitMqEvent(queue: AnyQueueName, messages: ReceivedMessage[]): RabbitMqEvent {
  return {
    eventSource: 'aws:rmq',
    eventSourceArn: 'arn:aws:mq:us-east-1:000000000000:broker:local:b-local',
    rmqMessagesByQueue: {
      [`${queue}::/`]: messages.map((m) => ({
        basicProperties: { messageId: m.id, priority: m.priority, deliveryMode: 2, headers: { 'x-receive-count': m.receiveCount } },
        redelivered: m.receiveCount > 1,
        data: Buffer.from(m.body, 'utf8').toString('base64'),
      })),
    },
  };
}
