import { type Config, config } from '#lib/config';
import { PostgresQueue, type PostgresQueueOptions } from '#lib/queue/postgres';
import { RabbitMqQueue, type RabbitMqQueueOptions } from '#lib/queue/rabbitmq';
import { SqsQueue, type SqsQueueOptions } from '#lib/queue/sqs';
import type { AnyQueueName, Queue } from '#lib/queue/types';

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
  const queueUrls: Partial<Record<AnyQueueName, string>> = namespace
    ? {}
    : {
        tasks: c.SQS_QUEUE_URL_TASKS,
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

/** Creates the queue adapter chosen by QUEUE_DRIVER (or `options.driver`); it connects on first use. */
export function createQueue(options: CreateQueueOptions = {}): Queue {
  const c = config();
  const driver = options.driver ?? c.QUEUE_DRIVER;
  const namespace = options.namespace ?? (c.QUEUE_NAMESPACE || undefined);
  switch (driver) {
    case 'postgres':
      return new PostgresQueue(postgresOptions(c, options, namespace));
    case 'rabbitmq':
      return new RabbitMqQueue(rabbitMqOptions(c, options, namespace));
    case 'sqs':
      return new SqsQueue(sqsOptions(c, options, namespace));
  }
}
