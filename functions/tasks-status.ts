import { httpHandler, ok } from '#lib/http/handler';
import * as routes from '#lib/http/routes';
import { getTaskStatus } from '#lib/tasks/queries';

export const handler = httpHandler(routes.getTaskStatus, async ({ params, query }) => ok(await getTaskStatus(params.id, query.wait)));
