import { httpHandler, ok } from '#lib/http/handler';
import * as routes from '#lib/http/routes';
import { getTask } from '#lib/tasks/queries';

export const handler = httpHandler(routes.getTask, async ({ params, query }) => ok(await getTask(params.id, query.wait)));
