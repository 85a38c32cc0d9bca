import { randomUUID } from 'node:crypto';
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
import { observeHttpRequest } from '#lib/metrics';
import { requestContext, requestIdFrom, withRequestContext } from '#lib/request-context';
import { secretsMiddleware } from '#lib/secrets';
import { InvalidInputError, zodIssuesToFieldErrors } from '#lib/tasks/errors';

export type HttpEvent = APIGatewayProxyEventV2;
export type HttpResult = APIGatewayProxyStructuredResultV2;

/** A route of the manifest (lib/http/routes.ts): the stack takes its input schemas and whether it is public. */
type InputSpec = Pick<RouteSpec, 'function' | 'public' | 'request'> & Partial<Pick<RouteSpec, 'method' | 'path'>>;

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

/** The request's id (lib/request-context.ts), which the wrapper of the stack set before the stack ran. */
const requestIdOf = (): string => requestContext()?.request_id ?? randomUUID();

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
    request.response = errorResponse(request.error, request.event.rawPath, requestIdOf());
  },
});

/**
 * Wraps the handler of a route of the manifest (`routes.getTask`) in the service's middy stack, in middy's order:
 * header normalisation, the logger's context, the secrets (lib/secrets.ts),
 * the API key, the JSON body (its checks, @middy/http-json-body-parser, the checks of its values), zod validation,
 * and the problem+json error handler last (its onError runs first).
 */
export function httpHandler<S extends InputSpec>(spec: S, route: Route<S>) {
  const core = async (event: HttpEvent, _context: Context): Promise<HttpResult> => {
    const requestId = requestIdOf();
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
    .use(httpHeaderNormalizer())
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(secretsMiddleware());
  if (!spec.public) stack.use(apiKey());
  if (spec.request?.body) stack.use(jsonBody());
  stack.use(validation(spec.request)).use(problemErrors());
  // Every log line of the request carries its id and route; the id is the client's own X-Request-Id when it is
  // acceptable, else a new UUID (never API Gateway's id, which serverless-offline fills with a placeholder).
  // The route as the manifest spells it (`GET /api/v1/tasks/{id}`), a bounded label for the metrics.
  const routeLabel = spec.method ? `${spec.method} ${spec.path}` : 'unmatched';
  return (event: HttpEvent, context: Context): Promise<HttpResult> => {
    const header = Object.entries(event.headers ?? {}).find(([name]) => name.toLowerCase() === 'x-request-id')?.[1];
    return withRequestContext({ request_id: requestIdFrom(header), route: routeLabel }, async () => {
      const started = performance.now();
      const result = await stack(event, context);
      const seconds = (performance.now() - started) / 1000;
      observeHttpRequest({ route: routeLabel, status: String(result.statusCode ?? 200) }, seconds);
      logRequest(event, result, seconds);
      return result;
    });
  };
}

/** The dashboard's own requests: its pages, and what its pages fetch (their Referer is a dashboard page). */
function fromDashboard(event: HttpEvent): boolean {
  if (event.rawPath.startsWith('/dashboard')) return true;
  const referer = Object.entries(event.headers ?? {}).find(([name]) => name.toLowerCase() === 'referer')?.[1];
  if (!referer) return false;
  try {
    return new URL(referer).pathname.startsWith('/dashboard');
  } catch {
    return false;
  }
}

/**
 * The one line of each request: method, path, status, time, and a refusal's detail. `dashboard: true` marks the
 * dashboard's own requests (its polling), which npm start's console leaves out unless LOG_REQUESTS=all.
 */
function logRequest(event: HttpEvent, result: HttpResult, seconds: number): void {
  const status = result.statusCode ?? 200;
  let detail: unknown;
  if (status >= 400 && String(result.headers?.['content-type']).startsWith('application/problem+json')) {
    try {
      detail = (JSON.parse(String(result.body)) as { detail?: unknown }).detail;
    } catch {}
  }
  logger.info('request', {
    method: event.requestContext?.http?.method,
    path: event.rawPath,
    status,
    ms: Math.round(seconds * 1000),
    detail,
    dashboard: fromDashboard(event) || undefined,
  });
}

/** Handy shortcut for a 200 JSON answer. */
export const ok = (body: unknown, headers?: Record<string, string>): HttpAnswer => ({ statusCode: 200, body, headers });
