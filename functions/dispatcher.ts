import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { logger } from '#lib/logger';
import { runMaintenance } from '#lib/tasks/dispatcher';

/** Scheduled: queues again the tasks of lost runs and publishes whatever the outbox still holds. */
export const handler = middy(async () => ({ published: await runMaintenance() })).use(injectLambdaContext(logger, { resetKeys: true }));
