import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { z } from 'zod';
import { logger } from '#lib/logger';
import { runMaintenanceRepeatedly } from '#lib/tasks/dispatcher';

/** The schedule's input (serverless.yml): repeat the maintenance for a while; any other event runs it once. */
const Input = z.object({ repeat_for_ms: z.number().int().min(0).max(55_000).optional(), every_ms: z.number().int().min(1_000).optional() });

/** Scheduled: queues again the tasks of lost runs, publishes whatever the outbox still holds, sends task callbacks. */
export const handler = middy(async (event: unknown, context: Context) => {
  const input = Input.safeParse(event);
  const remainingMs = context.getRemainingTimeInMillis();
  const options = input.success ? { forMs: input.data.repeat_for_ms, everyMs: input.data.every_ms, remainingMs } : {};
  return { published: await runMaintenanceRepeatedly(options) };
}).use(injectLambdaContext(logger, { resetKeys: true }));
