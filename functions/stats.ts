import { httpHandler, ok } from '#lib/http/handler';
import { getStats } from '#lib/tasks/stats';

export const handler = httpHandler({}, async () => ok(await getStats(), { 'cache-control': 'no-store' }));
