import { httpHandler, ok } from '#lib/http/handler';
import * as routes from '#lib/http/routes';
import { discardDeadLetter } from '#lib/tasks/dead-letters';
import { tracingMiddleware } from '#lib/tracing';

export const handler = httpHandler(routes.deleteDeadLetter, async ({ params }) => ok(await discardDeadLetter(params.id)), {
  tracing: tracingMiddleware,
});
