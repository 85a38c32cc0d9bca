import type { Tracer } from '@aws-lambda-powertools/tracer';
import type { MiddlewareObj } from '@middy/core';
import { onLambda } from '#lib/config';

/*
 * X-Ray tracing (Powertools Tracer) of the queue consumers (processor, intake, dead letters, dispatcher), on
 * deployed stages whose functions have active tracing (serverless.yml, provider.tracing). Each invocation gets a
 * subsegment with the cold start and the service as annotations, its error when it throws; outgoing HTTPS requests
 * (the AWS SDK's calls to SQS and SSM) get one each, the Tracer patching node's http and https modules. PostgreSQL's
 * statements have none: pg speaks its own protocol, and X-Ray's pg patch (another package, aws-xray-sdk-postgres) is
 * not worth its weight in every bundle.
 *
 * The HTTP functions have active tracing's own segments only (each request's time, the function's initialisation
 * and invocation): the X-Ray SDK is about 120 KB and 13 ms of every cold start, more than a short request's
 * subsegments are worth, and with it an HTTP function's module load stays above 60 ms.
 *
 * Outside Lambda (tests, npm start) the SDK is not even loaded: the Tracer would turn itself off there, but loading
 * the SDK installs its async hooks (cls-hooked) all the same, once per bundle, in serverless-offline's one process.
 */
let tracer: Tracer | undefined;

/**
 * The middy middleware that opens and closes the invocation's subsegment on Lambda, and does nothing elsewhere.
 * Responses are not recorded: they can hold task data (results, payloads), which must stay out of traces as they stay
 * out of logs.
 */
export function tracingMiddleware<E, R>(): MiddlewareObj<E, R> {
  // middy takes no empty middleware: a step that does nothing.
  if (!onLambda()) return { before: () => undefined };
  const { Tracer } = require('@aws-lambda-powertools/tracer') as typeof import('@aws-lambda-powertools/tracer');
  const { captureLambdaHandler } =
    require('@aws-lambda-powertools/tracer/middleware') as typeof import('@aws-lambda-powertools/tracer/middleware');
  tracer ??= new Tracer({ serviceName: 'async-task-service' });
  return captureLambdaHandler(tracer, { captureResponse: false }) as MiddlewareObj<E, R>;
}
