import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy, { type MiddlewareObj } from '@middy/core';
import httpHeaderNormalizer from '@middy/http-header-normalizer';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import type { z } from 'zod';
import { requireApiKey } from '#lib/http/auth';
import { jsonBody } from '#lib/http/body';
import { errorResponse } from '#lib/http/problem';
import type { RouteRequest, RouteSpec } from '#lib/http/routes';
import { logger } from '#lib/logger';
import { secretsMiddleware } from '#lib/secrets';
import { InvalidInputError, zodIssuesToFieldErrors } from '#lib/tasks/errors';
import { tracingMiddleware } from '#lib/tracing';

export type HttpEvent = APIGatewayProxyEventV2;
export type HttpResult = APIGatewayProxyStructuredResultV2;

/** A route of the manifest (lib/http/routes.ts): the stack takes its input schemas and whether it is public. */
type InputSpec = Pick<RouteSpec, 'function' | 'public' | 'request'>;

/** The output type of the route's schema for one part of the request, undefined when it has none. */
type Part<S, K extends keyof RouteRequest> = S extends { request: infer R }
  ? R extends { [P in K]: infer Z }
    ? Z extends z.ZodType
      ? z.output<Z>
      : undefined
    : undefined
  : undefined;

/** The validated input a route handler receives. */
export interface HttpRequest<S extends InputSpec> {
  body: Part<S, 'body'>;
  query: Part<S, 'query'>;
  params: Part<S, 'params'>;
  headers: Record<string, string | undefined>;
  requestId: string;
  event: HttpEvent;
}

/** What a route handler answers; `body` is serialised as JSON unless it is a string (sent as is). */
export interface HttpAnswer {
  statusCode: number;
  body?: unknown;
  headers?: Record<string, string>;
}

type Route<S extends InputSpec> = (req: HttpRequest<S>) => Promise<HttpAnswer>;
type Middleware = MiddlewareObj<HttpEvent, HttpResult>;

const requestIdOf = (event: HttpEvent): string => event.requestContext?.requestId ?? 'local';

/** Adds the request's id and route to every log line of the invocation (injectLambdaContext resets them). */
const logKeys = (): Middleware => ({
  before: ({ event }) => {
    logger.appendKeys({ request_id: event.requestContext?.requestId, route: event.routeKey });
  },
});

/** 401 unless the request carries one of API_KEYS (when set). */
const apiKey = (): Middleware => ({
  before: ({ event }) => {
    requireApiKey(event.headers?.['x-api-key']);
  },
});

/** The validated input of each request, from the validation middleware to the route. */
const validated = new WeakMap<HttpEvent, { body: unknown; query: unknown; params: unknown }>();

function parsePart(schema: z.ZodType | undefined, value: unknown, where: string): unknown {
  if (!schema) return undefined;
  const parsed = schema.safeParse(value ?? {});
  if (!parsed.success) throw new InvalidInputError(zodIssuesToFieldErrors(parsed.error.issues), `Invalid ${where}`);
  return parsed.data;
}

/** The body, query and path parameters against the route's zod schemas (422 naming the failing fields). */
const validation = ({ body, query, params }: RouteRequest = {}): Middleware => ({
  before: ({ event }) => {
    validated.set(event, {
      body: parsePart(body, body ? (event.body as unknown) : undefined, 'body'),
      query: parsePart(query, event.queryStringParameters, 'query parameters'),
      params: parsePart(params, event.pathParameters, 'path parameters'),
    });
  },
});

/** Any error as problem+json, mapped in one place (lib/http/problem.ts). */
const problemErrors = (): Middleware => ({
  onError: (request) => {
    request.response = errorResponse(request.error, request.event.rawPath, requestIdOf(request.event));
  },
});

/**
 * Wraps the handler of a route of the manifest (`ROUTES.getTask`) in the service's middy stack, in middy's order:
 * the X-Ray subsegment (lib/tracing.ts), header normalisation, the logger's context, the secrets (lib/secrets.ts),
 * the API key, the JSON body (its checks, @middy/http-json-body-parser, the checks of its values), zod validation,
 * and the problem+json error handler last (its onError runs first).
 */
export function httpHandler<S extends InputSpec>(spec: S, route: Route<S>) {
  const core = async (event: HttpEvent, _context: Context): Promise<HttpResult> => {
    const requestId = requestIdOf(event);
    const input = validated.get(event);
    const req = { ...input, headers: event.headers ?? {}, requestId, event } as HttpRequest<S>;
    const answer = await route(req);
    return {
      statusCode: answer.statusCode,
      headers: { 'content-type': 'application/json', 'x-request-id': requestId, ...answer.headers },
      body: answer.body === undefined ? '' : typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body),
    };
  };

  const stack = middy<HttpEvent, HttpResult>(core)
    .use(tracingMiddleware())
    .use(httpHeaderNormalizer())
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logKeys())
    .use(secretsMiddleware());
  if (!spec.public) stack.use(apiKey());
  if (spec.request?.body) stack.use(jsonBody());
  return stack.use(validation(spec.request)).use(problemErrors());
}

/** Handy shortcut for a 200 JSON answer. */
export const ok = (body: unknown, headers?: Record<string, string>): HttpAnswer => ({ statusCode: 200, body, headers });
