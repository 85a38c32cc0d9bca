import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { logger } from '#lib/logger';
import { handleQueueEvent, type QueueEvent } from '#lib/queue/events';
import { secretsMiddleware } from '#lib/secrets';
import { recordDeadLetterMessage } from '#lib/tasks/dead-letters';
import { tracingMiddleware } from '#lib/tracing';

/** Records the messages of a `tasks.dlq` or `task_intake.dlq` batch (SQS or Amazon MQ shape) as dead letters. */
export const handler = middy(async (event: QueueEvent) =>
  handleQueueEvent(event, async ({ deadLetterOf, ...m }) => {
    if (!deadLetterOf) throw new Error('the message does not come from a dead-letter queue');
    return recordDeadLetterMessage(deadLetterOf, m);
  }),
)
  .use(tracingMiddleware())
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(secretsMiddleware());
