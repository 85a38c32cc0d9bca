import { type Config, config } from '#lib/config';
import type { PostgresQueueOptions } from '#lib/queue/postgres';
import type { RabbitMqQueueOptions } from '#lib/queue/rabbitmq';
import type { SqsQueueOptions } from '#lib/queue/sqs';
import type { AnyQueueName, ConsumeOptions, Consumer, MessageBatchHandler, OutgoingMessage, Queue } from '#lib/queue/types';

export type QueueDriver = Queue['driver'];

/** What differs from the configuration (tests, tools, the benchmark); everything not given comes from `config()`. */
export interface CreateQueueOptions {
  /** Default: QUEUE_DRIVER. */
  driver?: QueueDriver;
  /** Prefixes every queue name, so that parallel test files and stages do not collide; default: QUEUE_NAMESPACE. */
  namespace?: string;
  /** The database of the embedded queue; default: DATABASE_URL. */
  databaseUrl?: string;
  /** Default: RABBITMQ_URL. */
  rabbitMqUrl?: string;
  /** Default: the SDK's own (AWS_ENDPOINT_URL_SQS, else AWS). */
  sqsEndpoint?: string;
  /** Default: the SDK's own (the environment, the Lambda role). */
  sqsCredentials?: { accessKeyId: string; secretAccessKey: string };
  /** How long a failed message waits before it is delivered again (default 1 s). */
  retryDelayMs?: number;
  /** SQS long polling of a consumer, in seconds; default: SQS_WAIT_TIME_SECONDS. */
  waitTimeSeconds?: number;
  /** RabbitMQ: the broker deletes the queues once unused that long (throwaway namespaces); default: RABBITMQ_QUEUE_EXPIRES_MS. */
  expiresMs?: number;
}

/*
 * The factory is the only module of the queue layer that reads the configuration: each adapter is handed every
 * setting it needs.
 */

function postgresOptions(c: Config, o: CreateQueueOptions, namespace: string | undefined): PostgresQueueOptions {
  return {
    connectionString: o.databaseUrl ?? c.DATABASE_URL,
    namespace,
    poolMax: c.DATABASE_POOL_MAX,
    publishTimeoutMs: c.QUEUE_PUBLISH_TIMEOUT_MS,
    statementTimeoutMs: c.DATABASE_STATEMENT_TIMEOUT_MS,
    retryDelayMs: o.retryDelayMs,
  };
}

function rabbitMqOptions(c: Config, o: CreateQueueOptions, namespace: string | undefined): RabbitMqQueueOptions {
  return {
    url: o.rabbitMqUrl ?? c.RABBITMQ_URL,
    namespace,
    publishTimeoutMs: c.QUEUE_PUBLISH_TIMEOUT_MS,
    retryDelayMs: o.retryDelayMs,
    prefetch: c.RABBITMQ_PREFETCH,
    expiresMs: o.expiresMs ?? c.RABBITMQ_QUEUE_EXPIRES_MS,
  };
}

function sqsOptions(c: Config, o: CreateQueueOptions, namespace: string | undefined): SqsQueueOptions {
  // The configured URLs are those of the stage's own queues: a namespace names queues of its own.
  const queueUrls: SqsQueueOptions['queueUrls'] = namespace
    ? {}
    : {
        'tasks-high': c.SQS_QUEUE_URL_TASKS_HIGH,
        'tasks-medium': c.SQS_QUEUE_URL_TASKS_MEDIUM,
        'tasks-low': c.SQS_QUEUE_URL_TASKS_LOW,
        task_intake: c.SQS_QUEUE_URL_TASK_INTAKE,
        'tasks.dlq': c.SQS_QUEUE_URL_TASKS_DLQ,
        'task_intake.dlq': c.SQS_QUEUE_URL_TASK_INTAKE_DLQ,
      };
  return {
    namespace,
    region: c.AWS_REGION,
    endpoint: o.sqsEndpoint,
    credentials: o.sqsCredentials,
    queueUrls,
    publishTimeoutMs: c.QUEUE_PUBLISH_TIMEOUT_MS,
    retryDelayMs: o.retryDelayMs,
    waitTimeSeconds: o.waitTimeSeconds ?? c.SQS_WAIT_TIME_SECONDS,
  };
}

/**
 * Imports the chosen adapter's module (and with it its broker client) at the queue's first use. esbuild still puts
 * all three adapters in every function bundle that reaches this factory (the import paths are literal), but each
 * behind a lazy initializer: a function evaluates only its own driver's code, and none if it never uses the queue.
 */
function loader(c: Config, o: CreateQueueOptions, driver: QueueDriver): () => Promise<Queue> {
  const namespace = o.namespace ?? (c.QUEUE_NAMESPACE || undefined);
  switch (driver) {
    case 'postgres': {
      const options = postgresOptions(c, o, namespace);
      return async () => new (await import('#lib/queue/postgres')).PostgresQueue(options);
    }
    case 'rabbitmq': {
      const options = rabbitMqOptions(c, o, namespace);
      return async () => new (await import('#lib/queue/rabbitmq')).RabbitMqQueue(options);
    }
    case 'sqs': {
      const options = sqsOptions(c, o, namespace);
      return async () => new (await import('#lib/queue/sqs')).SqsQueue(options);
    }
  }
}

/** A queue whose adapter is created on first use; once closed, it refuses every call. */
class LazyQueue implements Queue {
  private loading: Promise<Queue> | undefined;
  private adapter: Queue | undefined;
  private closed = false;

  constructor(
    readonly driver: QueueDriver,
    private readonly load: () => Promise<Queue>,
  ) {}

  private use(): Queue | Promise<Queue> {
    if (this.closed) return Promise.reject(new Error(`The ${this.driver} queue client is closed`));
    if (this.adapter) return this.adapter;
    if (!this.loading) {
      const loading = this.load().then((adapter) => {
        this.adapter = adapter;
        return adapter;
      });
      // A module that failed to load is tried again at the next use.
      loading.catch(() => {
        if (this.loading === loading) this.loading = undefined;
      });
      this.loading = loading;
    }
    return this.loading;
  }

  async publish(queue: AnyQueueName, messages: OutgoingMessage[]): Promise<void> {
    return (await this.use()).publish(queue, messages);
  }

  async consume(queue: AnyQueueName, handler: MessageBatchHandler, options: ConsumeOptions): Promise<Consumer> {
    return (await this.use()).consume(queue, handler, options);
  }

  async depth(queue: AnyQueueName): Promise<number> {
    return (await this.use()).depth(queue);
  }

  async purge(queue: AnyQueueName): Promise<void> {
    return (await this.use()).purge(queue);
  }

  async check(): Promise<void> {
    return (await this.use()).check();
  }

  async close(): Promise<void> {
    this.closed = true;
    const adapter = await this.loading?.catch(() => undefined);
    await adapter?.close();
  }
}

/** Creates a client of the queue chosen by QUEUE_DRIVER (or `options.driver`); it loads its adapter and connects on first use. */
export function createQueue(options: CreateQueueOptions = {}): Queue {
  const c = config();
  const driver = options.driver ?? c.QUEUE_DRIVER;
  return new LazyQueue(driver, loader(c, options, driver));
}
