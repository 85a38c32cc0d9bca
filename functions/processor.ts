import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { logger } from '#lib/logger';
import { handleQueueEvent, type QueueEvent } from '#lib/queue/events';
import { secretsMiddleware } from '#lib/secrets';
import { processTaskMessage } from '#lib/tasks/processor';
import { tracingMiddleware } from '#lib/tracing';

/** Runs the tasks of a `tasks` queue batch (SQS or Amazon MQ shape); failed messages are reported for redelivery. */
export const handler = middy(async (event: QueueEvent) => handleQueueEvent(event, (m) => processTaskMessage(m.body)))
  .use(tracingMiddleware())
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(secretsMiddleware());
