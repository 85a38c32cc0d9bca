import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { isConnectionError, isDatabaseBusy } from '#lib/db/retry';
import { HttpError, ServiceUnavailableError } from '#lib/http/errors';
import { logger } from '#lib/logger';
import type { BulkOutcome } from '#lib/tasks/bulk';
import type { RedriveOutcome } from '#lib/tasks/dead-letters';
import { ConflictError, InvalidInputError, NotFoundError, UnavailableError } from '#lib/tasks/errors';
import type { BulkActionInput, BulkActionResult, RedriveManyResult, Task } from '#lib/tasks/schemas';

// The one place where errors become HTTP answers: the domain's errors by class, HTTP's own as they are, a busy or
// unreachable database as a 503, anything else as a 500 that says nothing of its cause.

/** The HTTP error a known error stands for (undefined for an error nobody expected). */
export function httpErrorOf(err: unknown): HttpError | undefined {
  if (err instanceof HttpError) return err;
  if (err instanceof InvalidInputError) return new HttpError(422, 'Unprocessable Content', err.message);
  if (err instanceof NotFoundError) return new HttpError(404, 'Not Found', err.message);
  if (err instanceof ConflictError) return new HttpError(409, 'Conflict', err.message);
  if (err instanceof UnavailableError) return new ServiceUnavailableError(err.message, { cause: err });
  if (isDatabaseBusy(err))
    return new ServiceUnavailableError('The service is busy; try again shortly', { cause: err, retryAfterSeconds: 1 });
  if (isConnectionError(err)) return new ServiceUnavailableError('The database is unreachable; try again shortly', { cause: err });
  return undefined;
}

/** An RFC 9457 problem response for an error meant for the client (a 422 lists the failing fields). */
export function problemResponse(
  err: HttpError,
  instance: string | undefined,
  requestId: string,
  cause?: unknown,
): APIGatewayProxyStructuredResultV2 {
  const body: Record<string, unknown> = {
    type: 'about:blank',
    title: err.title,
    status: err.status,
    detail: err.message,
    instance,
    request_id: requestId,
  };
  if (cause instanceof InvalidInputError) body.errors = cause.errors;
  const headers: Record<string, string> = { 'content-type': 'application/problem+json', 'x-request-id': requestId };
  if (err.status === 503) headers['retry-after'] = String(err instanceof ServiceUnavailableError ? err.retryAfterSeconds : 5);
  return { statusCode: err.status, headers, body: JSON.stringify(body) };
}

/** The answer to any error a request ended with, logged as it deserves (a 500 without details for the unexpected). */
export function errorResponse(err: unknown, instance: string | undefined, requestId: string): APIGatewayProxyStructuredResultV2 {
  const known = httpErrorOf(err);
  if (!known) {
    logger.error('unexpected error', { error: err as Error });
    return problemResponse(new HttpError(500, 'Internal Server Error', 'An unexpected error occurred'), instance, requestId);
  }
  if (isDatabaseBusy(err)) logger.warn('every database connection is busy', { error: err as Error });
  else if (known.status >= 500) logger.error(known.message, { error: (known.cause ?? err) as Error });
  // Below 500 the request's own line (lib/http/handler.ts) says it, with the problem's detail.
  return problemResponse(known, instance, requestId, err);
}

/** One result per item of a bulk operation: the task, or the status and reason its single route would have answered. */
function itemResults(what: string, outcomes: Array<{ id: string; task?: Task | null; error?: unknown }>) {
  const items = outcomes.map(({ id, task, error }) => {
    if (error === undefined) return { id, status: 200, task: task ?? null, error: null };
    const known = httpErrorOf(error);
    if (known && known.status < 500) return { id, status: known.status, task: null, error: known.message };
    logger.error(`${what} failed on one item`, { id, error: error as Error });
    return { id, status: 500, task: null, error: 'The action failed unexpectedly; try again' };
  });
  const succeeded = items.filter((r) => r.status === 200).length;
  return { succeeded, failed: items.length - succeeded, items };
}

/** The answer to a bulk action: each task's outcome with the status its single-task route would have answered. */
export function bulkActionResult(action: BulkActionInput['action'], outcomes: BulkOutcome[]): BulkActionResult {
  return { action, ...itemResults(`bulk ${action}`, outcomes) };
}

/** The answer to a bulk redrive: each dead letter's outcome with the status its single redrive would have answered. */
export function redriveManyResult(
  queue: RedriveManyResult['queue'],
  r: { outcomes: RedriveOutcome[]; remaining: number },
): RedriveManyResult {
  return { queue, ...itemResults('redrive', r.outcomes), remaining: r.remaining };
}
