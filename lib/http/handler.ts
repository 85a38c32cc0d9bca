import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import httpHeaderNormalizer from '@middy/http-header-normalizer';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import type { z } from 'zod';
import { requireApiKey } from '#lib/http/auth';
import { parseJsonBody } from '#lib/http/input';
import { errorResponse } from '#lib/http/problem';
import { logger } from '#lib/logger';
import { InvalidInputError, zodIssuesToFieldErrors } from '#lib/tasks/errors';

export type HttpEvent = APIGatewayProxyEventV2;
export type HttpResult = APIGatewayProxyStructuredResultV2;

type Out<S> = S extends z.ZodType ? z.output<S> : undefined;

interface InputSpec {
  /** Open without an API key even when API_KEYS is set (health and documentation). */
  public?: boolean;
  body?: z.ZodType;
  query?: z.ZodType;
  params?: z.ZodType;
}

/** The validated input a route handler receives. */
export interface HttpRequest<S extends InputSpec> {
  body: Out<S['body']>;
  query: Out<S['query']>;
  params: Out<S['params']>;
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

function parsePart(schema: z.ZodType | undefined, value: unknown, where: string): unknown {
  if (!schema) return undefined;
  const parsed = schema.safeParse(value ?? {});
  if (!parsed.success) throw new InvalidInputError(zodIssuesToFieldErrors(parsed.error.issues), `Invalid ${where}`);
  return parsed.data;
}

/** Wraps a route in the service's middy stack: header normalisation, JSON body, zod validation, logging, problem+json errors. */
export function httpHandler<S extends InputSpec>(spec: S, route: Route<S>) {
  const core = async (event: HttpEvent, _context: Context): Promise<HttpResult> => {
    const requestId = event.requestContext?.requestId ?? 'local';
    if (!spec.public) requireApiKey(event.headers?.['x-api-key']);
    const rawBody = spec.body ? parseJsonBody(event) : undefined;
    const req = {
      body: parsePart(spec.body, rawBody, 'body'),
      query: parsePart(spec.query, event.queryStringParameters, 'query parameters'),
      params: parsePart(spec.params, event.pathParameters, 'path parameters'),
      headers: event.headers ?? {},
      requestId,
      event,
    } as HttpRequest<S>;
    const answer = await route(req);
    return {
      statusCode: answer.statusCode,
      headers: { 'content-type': 'application/json', 'x-request-id': requestId, ...answer.headers },
      body: answer.body === undefined ? '' : typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body),
    };
  };

  return middy(core)
    .use(httpHeaderNormalizer())
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use({
      before: (request) => {
        const ev = request.event as HttpEvent;
        logger.appendKeys({ request_id: ev.requestContext?.requestId, route: ev.routeKey });
      },
      onError: (request) => {
        const ev = request.event as HttpEvent;
        const requestId = ev.requestContext?.requestId ?? 'local';
        request.response = errorResponse(request.error, ev.rawPath, requestId);
      },
    });
}

/** Handy shortcut for a 200 JSON answer. */
export const ok = (body: unknown, headers?: Record<string, string>): HttpAnswer => ({ statusCode: 200, body, headers });
