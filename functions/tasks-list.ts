import { httpHandler, ok } from '#lib/http/handler';
import { searchTasks } from '#lib/tasks/queries';
import { ListTasksQuerySchema } from '#lib/tasks/schemas';

export const handler = httpHandler({ query: ListTasksQuerySchema }, async ({ query }) => ok(await searchTasks(query)));
