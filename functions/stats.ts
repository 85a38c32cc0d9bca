import { httpHandler, ok } from '#lib/http/handler';
import { ROUTES } from '#lib/http/routes';
import { getStats } from '#lib/tasks/stats';

export const handler = httpHandler(ROUTES.getStats, async () => ok(await getStats(), { 'cache-control': 'no-store' }));
