import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { logger } from '#lib/logger';
import { dispatchOutbox } from '#lib/tasks/dispatcher';

/** Scheduled: publishes whatever the outbox still holds. */
export const handler = middy(async () => ({ published: await dispatchOutbox() })).use(injectLambdaContext(logger, { resetKeys: true }));
