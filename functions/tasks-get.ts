import { httpHandler, ok } from '#lib/http/handler';
import { ROUTES } from '#lib/http/routes';
import { getTask } from '#lib/tasks/queries';

export const handler = httpHandler(ROUTES.getTask, async ({ params, query }) => ok(await getTask(params.id, query.wait)));
