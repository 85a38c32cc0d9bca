import { config } from '#lib/config';
import { PostgresQueue } from '#lib/queue/postgres';
import { RabbitMqQueue } from '#lib/queue/rabbitmq';
import { SqsQueue } from '#lib/queue/sqs';
import type { Queue } from '#lib/queue/types';

export type QueueDriver = Queue['driver'];

export interface CreateQueueOptions {
  /** Default: QUEUE_DRIVER. */
  driver?: QueueDriver;
  /** Prefixes every queue name, so that parallel test files and stages do not collide. */
  namespace?: string;
  /** The database of the embedded queue; default: DATABASE_URL. */
  databaseUrl?: string;
  /** How long a failed message waits before it is delivered again (default 1 s). */
  retryDelayMs?: number;
  /** SQS long polling of a consumer, in seconds (default 20). */
  waitTimeSeconds?: number;
  /** RabbitMQ: the broker deletes the queues once unused that long (for throwaway namespaces). */
  expiresMs?: number;
}

/** Creates the queue adapter chosen by QUEUE_DRIVER (or `options.driver`); it connects on first use. */
export function createQueue(options: CreateQueueOptions = {}): Queue {
  const driver = options.driver ?? config().QUEUE_DRIVER;
  const { namespace, retryDelayMs } = options;
  switch (driver) {
    case 'postgres':
      return new PostgresQueue({ connectionString: options.databaseUrl ?? config().DATABASE_URL, namespace, retryDelayMs });
    case 'rabbitmq':
      return new RabbitMqQueue({ namespace, retryDelayMs, expiresMs: options.expiresMs });
    case 'sqs':
      return new SqsQueue({ namespace, retryDelayMs, waitTimeSeconds: options.waitTimeSeconds });
  }
}
