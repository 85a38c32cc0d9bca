import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { z } from 'zod';
import { logger } from '#lib/logger';
import { secretsMiddleware } from '#lib/secrets';
import { runMaintenanceRepeatedly } from '#lib/tasks/dispatcher';
import { tracingMiddleware } from '#lib/tracing';

/** The schedule's input (serverless.yml): repeat the maintenance for a while; any other event runs it once. */
const Input = z.object({ repeat_for_ms: z.number().int().min(0).max(55_000).optional(), every_ms: z.number().int().min(1_000).optional() });

/** Scheduled: queues again the tasks of lost runs and publishes whatever the outbox still holds. */
export const handler = middy(async (event: unknown) => {
  const input = Input.safeParse(event);
  const options = input.success ? { forMs: input.data.repeat_for_ms, everyMs: input.data.every_ms } : {};
  return { published: await runMaintenanceRepeatedly(options) };
})
  .use(tracingMiddleware())
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(secretsMiddleware());
