import { httpHandler, ok } from '#lib/http/handler';
import { ListTasksQuerySchema } from '#lib/tasks/schemas';
import { searchTasks } from '#lib/tasks/service';

export const handler = httpHandler({ query: ListTasksQuerySchema }, async ({ query }) => ok(await searchTasks(query)));
