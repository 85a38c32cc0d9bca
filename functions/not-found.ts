import type { Context } from 'aws-lambda';
import { HttpError } from '#lib/http/errors';
import { type HttpEvent, httpHandler } from '#lib/http/handler';
import { matchTrailingSlash } from '#lib/http/routes';

// Public: an unknown route is a 404 with or without an API key.
const notFound = httpHandler({ public: true }, async ({ event }) => {
  throw new HttpError(404, 'Not Found', `No route for ${event.requestContext.http.method} ${event.rawPath}`);
});

/** The catch-all route: hands a trailing-slash path to its route's handler, answers 404 for anything else. */
export const handler = async (event: HttpEvent, context: Context) => {
  const match = await matchTrailingSlash(event);
  return match ? match.handler(match.event, context) : notFound(event, context);
};
