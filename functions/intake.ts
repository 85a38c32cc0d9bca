import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { logger } from '#lib/logger';
import { handleQueueEvent, type QueueEvent } from '#lib/queue/events';
import { secretsMiddleware } from '#lib/secrets';
import { processIntakeMessage } from '#lib/tasks/intake';
import { tracingMiddleware } from '#lib/tracing';

/** Creates tasks from a `task_intake` batch (SQS or Amazon MQ shape); invalid messages go to `task_intake.dlq`. */
export const handler = middy(async (event: QueueEvent) => handleQueueEvent(event, (m) => processIntakeMessage(m.body, m.receiveCount)))
  .use(tracingMiddleware())
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(secretsMiddleware());
