import { httpHandler, ok } from '#lib/http/handler';
import * as routes from '#lib/http/routes';
import { cancelTask } from '#lib/tasks/commands';
import { tracingMiddleware } from '#lib/tracing';

export const handler = httpHandler(routes.cancelTask, async ({ params }) => ok(await cancelTask(params.id)), {
  tracing: tracingMiddleware,
});
