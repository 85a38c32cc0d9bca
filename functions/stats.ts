import { httpHandler, ok } from '#lib/http/handler';
import * as routes from '#lib/http/routes';
import { getStats } from '#lib/tasks/stats';

export const handler = httpHandler(routes.getStats, async () => ok(await getStats(), { 'cache-control': 'no-store' }));
