import { httpHandler, ok } from '#lib/http/handler';
import { ROUTES } from '#lib/http/routes';
import { getTaskStatus } from '#lib/tasks/queries';

export const handler = httpHandler(ROUTES.getTaskStatus, async ({ params, query }) => ok(await getTaskStatus(params.id, query.wait)));
