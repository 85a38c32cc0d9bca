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
 * SQS has no priorities within a queue, so the `tasks` queue is three SQS queues, one per priority band
 * (`tasks-high`, `tasks-medium`, `tasks-low`, sharing `tasks-dlq`): a message goes to its band's queue, and a consumer
 * reads the high queue first, then the medium, then the low one. In the cloud each band's queue has its own event
 * source mapping (serverless.yml), with its own concurrency, so that HIGH tasks run while a LOW backlog waits. The
 * priority also travels as a message attribute, so a consumer sees it. Delays are whole seconds, rounded up, at most
 * 15 minutes.
 */

/** The priority bands of the tasks queue, highest first, and the lowest priority (0 to 9) of each. */
export const PRIORITY_BANDS = [
  { band: 'high', from: 7 },
  { band: 'medium', from: 4 },
  { band: 'low', from: 0 },
] as const;
type Band = (typeof PRIORITY_BANDS)[number]['band'];

/** An SQS queue of the driver: a logical queue, or one band of the tasks queue. */
export type SqsQueueKey = Exclude<AnyQueueName, 'tasks'> | `tasks-${Band}`;

/** The SQS queues of a logical queue, read in this order. */
const sqsQueuesOf = (queue: AnyQueueName): SqsQueueKey[] =>
  queue === 'tasks' ? PRIORITY_BANDS.map(({ band }) => `tasks-${band}` as const) : [queue];

/** The SQS queue a message of `queue` with `priority` goes to. */
export const sqsQueueFor = (queue: AnyQueueName, priority: number | undefined): SqsQueueKey => {
  if (queue !== 'tasks') return queue;
  const p = clampPriority(priority);
  return `tasks-${(PRIORITY_BANDS.find(({ from }) => p >= from) ?? PRIORITY_BANDS[2]).band}`;
};

export interface SqsQueueOptions {
  /** Prefix of every queue name (`<namespace>-tasks`), so that test files and stages do not collide. */
  namespace?: string;
  /** Default: the SDK's own (AWS_ENDPOINT_URL_SQS or the AWS endpoint of the region). */
  endpoint?: string;
  region: string;
  /** Default: the SDK's own (the environment, the Lambda role). */
  credentials?: { accessKeyId: string; secretAccessKey: string };
  /** Queue URLs by SQS queue; a queue without one is looked up by its name (and created if missing). */
  queueUrls?: Partial<Record<SqsQueueKey, string | undefined>>;
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

/** Items by key, in order of first appearance (Map.groupBy, which Node.js 20 lacks). */
function groupBy<T, K>(items: T[], keyOf: (item: T) => K): Map<K, T[]> {
  const groups = new Map<K, T[]>();
  for (const item of items) {
    const key = keyOf(item);
    const group = groups.get(key);
    if (group) group.push(item);
    else groups.set(key, [item]);
  }
  return groups;
}

function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Amazon SQS (or anything speaking its JSON protocol): batches of 10, long polling, visibility timeouts. */
export class SqsQueue implements Queue {
  readonly driver = 'sqs' as const;
  private readonly client: SQSClient;
  private readonly names: Map<SqsQueueKey, string>;
  private readonly knownUrls: Partial<Record<SqsQueueKey, string | undefined>>;
  private readonly urls = new Map<SqsQueueKey, Promise<string>>();
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
    const all: SqsQueueKey[] = [...QUEUES, ...QUEUES.map(deadLetterQueueOf)].flatMap(sqsQueuesOf);
    this.names = new Map(all.map((q) => [q, `${prefix}${q.replace('.', '-')}`]));
    this.knownUrls = options.queueUrls ?? {};
  }

  /** The URL of a queue: configured, or looked up by name, or (when it does not exist yet) created. */
  private url(queue: SqsQueueKey, signal?: AbortSignal): Promise<string> {
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

  private async resolve(queue: SqsQueueKey, signal?: AbortSignal): Promise<string> {
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
    const bySqsQueue = groupBy(messages, (m) => sqsQueueFor(queue, m.priority));
    await Promise.all([...bySqsQueue].map(async ([key, group]) => this.send(await this.url(key, signal), group, signal)));
  }

  private async send(QueueUrl: string, messages: OutgoingMessage[], signal: AbortSignal): Promise<void> {
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
    const queueUrls = await Promise.all(sqsQueuesOf(queue).map((key) => this.url(key)));
    const driver = new SqsConsumer(this.client, queueUrls, {
      waitTimeSeconds: Math.min(20, Math.max(0, Math.round(this.options.waitTimeSeconds ?? 20))),
      visibilityTimeoutSeconds: this.options.visibilityTimeoutSeconds ?? 60,
      retryDelaySeconds: Math.ceil((this.options.retryDelayMs ?? 1_000) / 1000),
    });
    return this.consumers.start(driver, handler, options);
  }

  async depth(queue: AnyQueueName): Promise<number> {
    const depths = await Promise.all(
      sqsQueuesOf(queue).map(async (key) => {
        const { Attributes } = await this.client.send(
          new GetQueueAttributesCommand({
            QueueUrl: await this.url(key),
            AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesDelayed'],
          }),
        );
        return Number(Attributes?.ApproximateNumberOfMessages ?? 0) + Number(Attributes?.ApproximateNumberOfMessagesDelayed ?? 0);
      }),
    );
    return depths.reduce((sum, d) => sum + d, 0);
  }

  /**
   * Receives and deletes until the queue answers empty. PurgeQueue is not used: it may take 60 s, during
   * which it also deletes messages sent after it. Messages in flight elsewhere or still delayed stay.
   */
  async purge(queue: AnyQueueName): Promise<void> {
    for (const key of sqsQueuesOf(queue)) await this.purgeOne(await this.url(key));
  }

  private async purgeOne(QueueUrl: string): Promise<void> {
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
    const QueueUrl = await this.url('tasks-high', signal);
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

/** A received message and the SQS queue it came from. */
interface Received {
  message: Message;
  queueUrl: string;
}

/**
 * SQS's part of a consumer: long polls, deletes, and visibility changes (to retry later, to hand back, to keep). Over
 * several queues (the priority bands of `tasks`, highest first), a receive fills the batch from the first queue, then
 * the next ones; when all are empty it long polls the first one, for a second at most, so that a high-priority
 * message is taken as soon as it comes and a lower one within a second.
 */
class SqsConsumer implements ConsumerDriver<Received> {
  readonly extendEveryMs: number;

  constructor(
    private readonly client: SQSClient,
    private readonly queueUrls: string[],
    private readonly settings: ConsumerSettings,
  ) {
    this.extendEveryMs = (settings.visibilityTimeoutSeconds * 1000) / 3;
  }

  async receive(max: number, signals: StopSignals): Promise<Delivery<Received>[]> {
    const received: Received[] = [];
    const single = this.queueUrls.length === 1;
    for (const queueUrl of this.queueUrls) {
      if (received.length >= max) break;
      const wait = single ? this.settings.waitTimeSeconds : 0;
      received.push(...(await this.receiveFrom(queueUrl, max - received.length, wait, signals)));
    }
    const [first] = this.queueUrls;
    if (received.length === 0 && !single && first && this.settings.waitTimeSeconds > 0 && !signals.stopping.aborted) {
      received.push(...(await this.receiveFrom(first, max, 1, signals)));
    }
    if (received.length === 0 && this.settings.waitTimeSeconds === 0) await pauseFor(IDLE_POLL_MS, signals.stopping);
    return received.map(({ message: m, queueUrl }, i) => ({
      message: {
        id: m.MessageId ?? String(i),
        body: m.Body ?? '',
        priority: Number(m.MessageAttributes?.[PRIORITY_ATTRIBUTE]?.StringValue ?? 0),
        receiveCount: Number(m.Attributes?.ApproximateReceiveCount ?? 1),
      },
      handle: { message: m, queueUrl },
    }));
  }

  private async receiveFrom(queueUrl: string, max: number, waitTimeSeconds: number, { abandoned }: StopSignals): Promise<Received[]> {
    // A poll in progress when the consumer stops is let finish (at most waitTimeSeconds), so that what it receives
    // can be handed back; aborting it would leave those messages hidden for the whole visibility timeout. It is
    // aborted only once the stop times out.
    const poll = new AbortController();
    const abort = () => poll.abort();
    abandoned.addEventListener('abort', abort, { once: true });
    try {
      const result = await this.client.send(
        new ReceiveMessageCommand({
          QueueUrl: queueUrl,
          MaxNumberOfMessages: Math.min(max, MAX_BATCH_SIZE),
          WaitTimeSeconds: waitTimeSeconds,
          VisibilityTimeout: this.settings.visibilityTimeoutSeconds,
          MessageSystemAttributeNames: ['ApproximateReceiveCount'],
          // The older spelling too: some SQS emulators read only this one.
          AttributeNames: ['All'],
          MessageAttributeNames: [PRIORITY_ATTRIBUTE],
        }),
        { abortSignal: poll.signal },
      );
      return (result.Messages ?? []).map((message) => ({ message, queueUrl }));
    } finally {
      abandoned.removeEventListener('abort', abort);
    }
  }

  pause(failures: number, { stopping }: StopSignals): Promise<void> {
    return pauseFor(Math.min(5_000, 100 * 2 ** failures), stopping);
  }

  // If SQS cannot be reached now, the messages reappear after the visibility timeout and are delivered again.
  async ack(received: Received[]): Promise<void> {
    await Promise.all(
      [...groupBy(received, (r) => r.queueUrl)].map(([QueueUrl, group]) =>
        this.client.send(
          new DeleteMessageBatchCommand({
            QueueUrl,
            Entries: group.map((r, i) => ({ Id: String(i), ReceiptHandle: r.message.ReceiptHandle })),
          }),
        ),
      ),
    );
  }

  retryLater(received: Received[]): Promise<void> {
    return this.changeVisibility(received, this.settings.retryDelaySeconds);
  }

  release(received: Received[]): Promise<void> {
    return this.changeVisibility(received, 0);
  }

  extend(received: Received[]): Promise<void> {
    return this.changeVisibility(received, this.settings.visibilityTimeoutSeconds);
  }

  private async changeVisibility(received: Received[], seconds: number): Promise<void> {
    if (received.length === 0) return;
    await Promise.all(
      [...groupBy(received, (r) => r.queueUrl)].map(([QueueUrl, group]) =>
        this.client.send(
          new ChangeMessageVisibilityBatchCommand({
            QueueUrl,
            Entries: group.map((r, i) => ({ Id: String(i), ReceiptHandle: r.message.ReceiptHandle, VisibilityTimeout: seconds })),
          }),
        ),
      ),
    );
  }
}
