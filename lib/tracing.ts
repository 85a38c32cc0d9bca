import { Tracer } from '@aws-lambda-powertools/tracer';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';

/*
 * X-Ray tracing (Powertools Tracer), on deployed stages whose functions have active tracing (serverless.yml,
 * provider.tracing). Each invocation gets a subsegment with the cold start and the service as annotations, its
 * error when it throws; outgoing HTTPS requests (the AWS SDK's calls to SQS and SSM) get one each, the Tracer patching
 * node's http and https modules. PostgreSQL's statements have none: pg speaks its own protocol, and X-Ray's pg patch
 * (another package, aws-xray-sdk-postgres) is not worth its weight in every bundle. Outside Lambda (tests, npm start:
 * no AWS_EXECUTION_ENV) the Tracer turns itself off.
 */
export const tracer = new Tracer({ serviceName: 'async-task-service' });

/**
 * The middy middleware that opens and closes the invocation's subsegment. Responses are not recorded: they can hold
 * task data (results, payloads), which must stay out of traces as they stay out of logs.
 */
export const tracingMiddleware = () => captureLambdaHandler(tracer, { captureResponse: false });
