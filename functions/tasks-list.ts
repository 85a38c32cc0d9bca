import { httpHandler, ok } from '#lib/http/handler';
import { ROUTES } from '#lib/http/routes';
import { searchTasks } from '#lib/tasks/queries';

export const handler = httpHandler(ROUTES.listTasks, async ({ query }) => ok(await searchTasks(query)));
