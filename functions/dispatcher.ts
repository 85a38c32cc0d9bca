import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { z } from 'zod';
import { config } from '#lib/config';
import { logger } from '#lib/logger';
import { secretsMiddleware } from '#lib/secrets';
import { runMaintenanceRepeatedly } from '#lib/tasks/dispatcher';
import { publishGauges } from '#lib/tasks/metrics';
import { runDueSchedulesRepeatedly } from '#lib/tasks/schedules';
import { tracingMiddleware } from '#lib/tracing';

/**
 * The schedule's input (serverless.yml): repeat the maintenance for a while, and look for due recurring schedules
 * every SCHEDULE_TICK_MS for `schedules_for_ms` (default: as long as the maintenance); any other event runs each once.
 */
const Input = z.object({
  repeat_for_ms: z.number().int().min(0).max(65_000).optional(),
  every_ms: z.number().int().min(1_000).optional(),
  schedules_for_ms: z.number().int().min(0).max(65_000).optional(),
});

/**
 * Scheduled: releases due scheduled tasks, queues again the tasks of lost runs, publishes whatever the outbox still
 * holds, starts due schedules, sends task callbacks, then writes the gauges.
 */
export const handler = middy(async (event: unknown, context: Context) => {
  const input = Input.safeParse(event);
  const remainingMs = context.getRemainingTimeInMillis();
  const options = input.success ? { forMs: input.data.repeat_for_ms, everyMs: input.data.every_ms, remainingMs } : {};
  const schedulesForMs = input.success ? (input.data.schedules_for_ms ?? input.data.repeat_for_ms) : 0;
  const [published, scheduled] = await Promise.all([
    runMaintenanceRepeatedly(options),
    runDueSchedulesRepeatedly({ forMs: schedulesForMs, everyMs: config().SCHEDULE_TICK_MS }),
  ]);
  await publishGauges();
  return { published, scheduled };
})
  .use(tracingMiddleware())
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(secretsMiddleware());
