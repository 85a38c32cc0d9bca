import { Tracer } from '@aws-lambda-powertools/tracer';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';

/*
 * X-Ray tracing (Powertools Tracer) of the queue consumers (processor, intake, dead letters, dispatcher), on
 * deployed stages whose functions have active tracing (serverless.yml, provider.tracing). Each invocation gets a
 * subsegment with the cold start and the service as annotations, its error when it throws; outgoing HTTPS requests
 * (the AWS SDK's calls to SQS and SSM) get one each, the Tracer patching node's http and https modules. PostgreSQL's
 * statements have none: pg speaks its own protocol, and X-Ray's pg patch (another package, aws-xray-sdk-postgres) is
 * not worth its weight in every bundle. Outside Lambda (tests, npm start: no AWS_EXECUTION_ENV) the Tracer turns
 * itself off.
 *
 * The HTTP functions have active tracing's own segments only (each request's time, the function's initialisation
 * and invocation): the X-Ray SDK is about 120 KB and 13 ms of every cold start, more than a short request's
 * subsegments are worth, and with it an HTTP function's module load stays above 60 ms.
 */
export const tracer = new Tracer({ serviceName: 'async-task-service' });

/**
 * The middy middleware that opens and closes the invocation's subsegment. Responses are not recorded: they can hold
 * task data (results, payloads), which must stay out of traces as they stay out of logs.
 */
export const tracingMiddleware = () => captureLambdaHandler(tracer, { captureResponse: false });
