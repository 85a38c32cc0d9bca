import { httpHandler, ok } from '#lib/http/handler';
import * as routes from '#lib/http/routes';
import { getStats } from '#lib/tasks/stats';
import { tracingMiddleware } from '#lib/tracing';

export const handler = httpHandler(routes.getStats, async () => ok(await getStats(), { 'cache-control': 'no-store' }), {
  tracing: tracingMiddleware,
});
