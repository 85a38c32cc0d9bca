import {
  ChangeMessageVisibilityBatchCommand,
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  type Message,
  QueueDoesNotExist,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { type ConsumerDriver, Consumers, type Delivery, pauseFor, type StopSignals } from '#lib/queue/consume-loop';
import {
  type AnyQueueName,
  type ConsumeOptions,
  type Consumer,
  clampPriority,
  deadLetterQueueOf,
  MAX_BATCH_SIZE,
  type MessageBatchHandler,
  type OutgoingMessage,
  QUEUES,
  type Queue,
} from '#lib/queue/types';

/*
 * SQS has no priorities: a message's priority travels as a message attribute (so a consumer sees it)
 * but does not change the order of delivery. Delays are whole seconds, rounded up, at most 15 minutes.
 */

export interface SqsQueueOptions {
  /** Prefix of every queue name (`<namespace>-tasks`), so that test files and stages do not collide. */
  namespace?: string;
  /** Default: the SDK's own (AWS_ENDPOINT_URL_SQS or the AWS endpoint of the region). */
  endpoint?: string;
  region: string;
  /** Default: the SDK's own (the environment, the Lambda role). */
  credentials?: { accessKeyId: string; secretAccessKey: string };
  /** Queue URLs by logical name; a queue without one is looked up by its name (and created if missing). */
  queueUrls?: Partial<Record<AnyQueueName, string>>;
  /** Longest wait for SQS to take a publish or to answer a check. */
  publishTimeoutMs: number;
  /** Long polling of a consumer, in seconds (0 to 20). */
  waitTimeSeconds?: number;
  /** How long a received message stays hidden from other consumers; renewed while its batch runs. */
  visibilityTimeoutSeconds?: number;
  /** How long a failed message waits before it is delivered again (whole seconds, rounded up). */
  retryDelayMs?: number;
}

const MAX_DELAY_SECONDS = 900;
const PRIORITY_ATTRIBUTE = 'priority';
const IDLE_POLL_MS = 200;

function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Amazon SQS (or anything speaking its JSON protocol): batches of 10, long polling, visibility timeouts. */
export class SqsQueue implements Queue {
  readonly driver = 'sqs' as const;
  private readonly client: SQSClient;
  private readonly names: Map<AnyQueueName, string>;
  private readonly knownUrls: Partial<Record<AnyQueueName, string>>;
  private readonly urls = new Map<AnyQueueName, Promise<string>>();
  private readonly consumers = new Consumers();

  constructor(private readonly options: SqsQueueOptions) {
    this.client = new SQSClient({
      region: options.region,
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
      ...(options.credentials ? { credentials: options.credentials } : {}),
      maxAttempts: 2,
    });
    // SQS names allow letters, digits, '-' and '_': `tasks.dlq` is `tasks-dlq`.
    const prefix = options.namespace ? `${options.namespace.replace(/[^A-Za-z0-9_-]/g, '-')}-` : '';
    const all: AnyQueueName[] = [...QUEUES, ...QUEUES.map(deadLetterQueueOf)];
    this.names = new Map(all.map((q) => [q, `${prefix}${q.replace('.', '-')}`]));
    this.knownUrls = options.queueUrls ?? {};
  }

  /** The URL of a queue: configured, or looked up by name, or (when it does not exist yet) created. */
  private url(queue: AnyQueueName, signal?: AbortSignal): Promise<string> {
    const known = this.knownUrls[queue];
    if (known) return Promise.resolve(known);
    let url = this.urls.get(queue);
    if (!url) {
      url = this.resolve(queue, signal);
      url.catch(() => this.urls.delete(queue));
      this.urls.set(queue, url);
    }
    return url;
  }

  private async resolve(queue: AnyQueueName, signal?: AbortSignal): Promise<string> {
    const QueueName = this.names.get(queue);
    if (!QueueName) throw new Error(`Unknown queue: ${queue}`);
    try {
      const { QueueUrl } = await this.client.send(new GetQueueUrlCommand({ QueueName }), { abortSignal: signal });
      if (QueueUrl) return QueueUrl;
    } catch (err) {
      if (!(err instanceof QueueDoesNotExist)) throw err;
    }
    const { QueueUrl } = await this.client.send(new CreateQueueCommand({ QueueName }), { abortSignal: signal });
    if (!QueueUrl) throw new Error(`SQS returned no URL for ${QueueName}`);
    return QueueUrl;
  }

  async publish(queue: AnyQueueName, messages: OutgoingMessage[]): Promise<void> {
    if (messages.length === 0) return;
    const signal = AbortSignal.timeout(this.options.publishTimeoutMs);
    const QueueUrl = await this.url(queue, signal);
    await Promise.all(
      chunks(messages, MAX_BATCH_SIZE).map(async (chunk) => {
        const { Failed } = await this.client.send(
          new SendMessageBatchCommand({
            QueueUrl,
            Entries: chunk.map((m, i) => ({
              Id: String(i),
              MessageBody: m.body,
              DelaySeconds: Math.min(MAX_DELAY_SECONDS, Math.max(0, Math.ceil((m.delayMs ?? 0) / 1000))),
              MessageAttributes: {
                [PRIORITY_ATTRIBUTE]: { DataType: 'Number', StringValue: String(clampPriority(m.priority)) },
              },
            })),
          }),
          { abortSignal: signal },
        );
        if (Failed && Failed.length > 0) {
          const reasons = Failed.map((f) => `${f.Code}: ${f.Message}`).join('; ');
          throw new Error(`SQS refused ${Failed.length} of ${chunk.length} messages: ${reasons}`);
        }
      }),
    );
  }

  async consume(queue: AnyQueueName, handler: MessageBatchHandler, options: ConsumeOptions): Promise<Consumer> {
    const QueueUrl = await this.url(queue);
    const driver = new SqsConsumer(this.client, QueueUrl, {
      waitTimeSeconds: Math.min(20, Math.max(0, Math.round(this.options.waitTimeSeconds ?? 20))),
      visibilityTimeoutSeconds: this.options.visibilityTimeoutSeconds ?? 60,
      retryDelaySeconds: Math.ceil((this.options.retryDelayMs ?? 1_000) / 1000),
    });
    return this.consumers.start(driver, handler, options);
  }

  async depth(queue: AnyQueueName): Promise<number> {
    const QueueUrl = await this.url(queue);
    const { Attributes } = await this.client.send(
      new GetQueueAttributesCommand({
        QueueUrl,
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesDelayed'],
      }),
    );
    return Number(Attributes?.ApproximateNumberOfMessages ?? 0) + Number(Attributes?.ApproximateNumberOfMessagesDelayed ?? 0);
  }

  /**
   * Receives and deletes until the queue answers empty. PurgeQueue is not used: it may take 60 s, during
   * which it also deletes messages sent after it. Messages in flight elsewhere or still delayed stay.
   */
  async purge(queue: AnyQueueName): Promise<void> {
    const QueueUrl = await this.url(queue);
    for (;;) {
      const { Messages = [] } = await this.client.send(
        new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: MAX_BATCH_SIZE, WaitTimeSeconds: 0, VisibilityTimeout: 30 }),
      );
      if (Messages.length === 0) return;
      await this.client.send(
        new DeleteMessageBatchCommand({
          QueueUrl,
          Entries: Messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })),
        }),
      );
    }
  }

  async check(): Promise<void> {
    const signal = AbortSignal.timeout(this.options.publishTimeoutMs);
    const QueueUrl = await this.url('tasks', signal);
    await this.client.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }), {
      abortSignal: signal,
    });
  }

  async close(): Promise<void> {
    await this.consumers.stopAll();
    this.client.destroy();
  }
}

interface ConsumerSettings {
  waitTimeSeconds: number;
  visibilityTimeoutSeconds: number;
  retryDelaySeconds: number;
}

/** SQS's part of a consumer: long polls, deletes, and visibility changes (to retry later, to hand back, to keep). */
class SqsConsumer implements ConsumerDriver<Message> {
  readonly extendEveryMs: number;

  constructor(
    private readonly client: SQSClient,
    private readonly queueUrl: string,
    private readonly settings: ConsumerSettings,
  ) {
    this.extendEveryMs = (settings.visibilityTimeoutSeconds * 1000) / 3;
  }

  async receive(max: number, { stopping, abandoned }: StopSignals): Promise<Delivery<Message>[]> {
    // A poll in progress when the consumer stops is let finish (at most waitTimeSeconds), so that what it receives
    // can be handed back; aborting it would leave those messages hidden for the whole visibility timeout. It is
    // aborted only once the stop times out.
    const poll = new AbortController();
    const abort = () => poll.abort();
    abandoned.addEventListener('abort', abort, { once: true });
    let messages: Message[];
    try {
      const result = await this.client.send(
        new ReceiveMessageCommand({
          QueueUrl: this.queueUrl,
          MaxNumberOfMessages: Math.min(max, MAX_BATCH_SIZE),
          WaitTimeSeconds: this.settings.waitTimeSeconds,
          VisibilityTimeout: this.settings.visibilityTimeoutSeconds,
          MessageSystemAttributeNames: ['ApproximateReceiveCount'],
          // The older spelling too: some SQS emulators read only this one.
          AttributeNames: ['All'],
          MessageAttributeNames: [PRIORITY_ATTRIBUTE],
        }),
        { abortSignal: poll.signal },
      );
      messages = result.Messages ?? [];
    } finally {
      abandoned.removeEventListener('abort', abort);
    }
    if (messages.length === 0 && this.settings.waitTimeSeconds === 0) await pauseFor(IDLE_POLL_MS, stopping);
    return messages.map((m, i) => ({
      message: {
        id: m.MessageId ?? String(i),
        body: m.Body ?? '',
        priority: Number(m.MessageAttributes?.[PRIORITY_ATTRIBUTE]?.StringValue ?? 0),
        receiveCount: Number(m.Attributes?.ApproximateReceiveCount ?? 1),
      },
      handle: m,
    }));
  }

  pause(failures: number, { stopping }: StopSignals): Promise<void> {
    return pauseFor(Math.min(5_000, 100 * 2 ** failures), stopping);
  }

  // If SQS cannot be reached now, the messages reappear after the visibility timeout and are delivered again.
  async ack(messages: Message[]): Promise<void> {
    await this.client.send(
      new DeleteMessageBatchCommand({
        QueueUrl: this.queueUrl,
        Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })),
      }),
    );
  }

  retryLater(messages: Message[]): Promise<void> {
    return this.changeVisibility(messages, this.settings.retryDelaySeconds);
  }

  release(messages: Message[]): Promise<void> {
    return this.changeVisibility(messages, 0);
  }

  extend(messages: Message[]): Promise<void> {
    return this.changeVisibility(messages, this.settings.visibilityTimeoutSeconds);
  }

  private async changeVisibility(messages: Message[], seconds: number): Promise<void> {
    if (messages.length === 0) return;
    await this.client.send(
      new ChangeMessageVisibilityBatchCommand({
        QueueUrl: this.queueUrl,
        Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: seconds })),
      }),
    );
  }
}
