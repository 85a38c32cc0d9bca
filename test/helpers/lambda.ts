import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import fixture from '../fixtures/events/http-api-create-task.json';

/** A Lambda context as the runtime passes it, enough for the middlewares. */
export function fakeContext(functionName = 'test'): Context {
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:123456789012:function:${functionName}`,
    memoryLimitInMB: '512',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: '2026/11/24/[$LATEST]0123456789abcdef',
    getRemainingTimeInMillis: () => 29_000,
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}

interface EventOptions {
  method: string;
  path: string;
  routeKey?: string;
  body?: string | object;
  headers?: Record<string, string>;
  query?: Record<string, string>;
  pathParameters?: Record<string, string>;
}

/** An HTTP API (payload 2.0) event based on the recorded fixture, with the given request. */
export function httpEvent(o: EventOptions): APIGatewayProxyEventV2 {
  const body = o.body === undefined ? undefined : typeof o.body === 'string' ? o.body : JSON.stringify(o.body);
  const headers: Record<string, string> = { ...fixture.headers, ...o.headers };
  if (body === undefined) delete headers['content-length'];
  else headers['content-length'] ??= String(Buffer.byteLength(body));
  const routeKey = o.routeKey ?? `${o.method} ${o.path}`;
  return {
    ...fixture,
    routeKey,
    rawPath: o.path,
    rawQueryString: new URLSearchParams(o.query ?? {}).toString(),
    headers,
    queryStringParameters: o.query,
    pathParameters: o.pathParameters,
    requestContext: {
      ...fixture.requestContext,
      http: { ...fixture.requestContext.http, method: o.method, path: o.path },
      routeKey,
      requestId: randomUUID(),
    },
    body,
  } as APIGatewayProxyEventV2;
}

/** Calls a handler with an event and parses its JSON body. */
export async function invoke(
  handler: (event: APIGatewayProxyEventV2, context: Context) => Promise<unknown>,
  event: APIGatewayProxyEventV2,
): Promise<{ statusCode: number; headers: Record<string, string>; body: any }> {
  const res = (await handler(event, fakeContext())) as APIGatewayProxyStructuredResultV2;
  const text = res.body ?? '';
  let body: unknown = text;
  const type = String(res.headers?.['content-type'] ?? '');
  if (type.includes('json') && text) body = JSON.parse(text);
  return { statusCode: res.statusCode ?? 200, headers: (res.headers ?? {}) as Record<string, string>, body };
}
