import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { isConnectionError, isDatabaseBusy } from '#lib/db/retry';
import { HttpError, ServiceUnavailableError, ValidationError } from '#lib/http/errors';
import { logger } from '#lib/logger';

/** An RFC 9457 problem response for an error meant for the client. */
export function problemResponse(err: HttpError, instance: string | undefined, requestId: string): APIGatewayProxyStructuredResultV2 {
  const body: Record<string, unknown> = {
    type: 'about:blank',
    title: err.title,
    status: err.status,
    detail: err.message,
    instance,
    request_id: requestId,
  };
  if (err instanceof ValidationError) body.errors = err.errors;
  const headers: Record<string, string> = { 'content-type': 'application/problem+json', 'x-request-id': requestId };
  if (err.status === 503) headers['retry-after'] = String(err instanceof ServiceUnavailableError ? err.retryAfterSeconds : 5);
  return { statusCode: err.status, headers, body: JSON.stringify(body) };
}

/**
 * The response for an error nobody expected: 503 when every database connection is busy (try again in a second) or
 * the database is down (in a few seconds), else a 500 without details.
 */
export function unexpectedErrorResponse(err: unknown, instance: string | undefined, requestId: string): APIGatewayProxyStructuredResultV2 {
  if (isDatabaseBusy(err)) {
    logger.warn('every database connection is busy', { error: err as Error });
    return problemResponse(
      new ServiceUnavailableError('The service is busy; try again shortly', { retryAfterSeconds: 1 }),
      instance,
      requestId,
    );
  }
  if (isConnectionError(err)) {
    logger.error('database unreachable', { error: err as Error });
    return problemResponse(new ServiceUnavailableError('The database is unreachable; try again shortly'), instance, requestId);
  }
  logger.error('unexpected error', { error: err as Error });
  return problemResponse(new HttpError(500, 'Internal Server Error', 'An unexpected error occurred'), instance, requestId);
}
