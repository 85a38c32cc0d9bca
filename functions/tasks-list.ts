import { httpHandler, ok } from '#lib/http/handler';
import * as routes from '#lib/http/routes';
import { searchTasks } from '#lib/tasks/queries';

export const handler = httpHandler(routes.listTasks, async ({ query }) => ok(await searchTasks(query)));
