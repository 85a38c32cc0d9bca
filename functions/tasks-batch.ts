import { httpHandler } from '#lib/http/handler';
import * as routes from '#lib/http/routes';
import { createTasks } from '#lib/tasks/commands';

export const handler = httpHandler(routes.createTaskBatch, async ({ body }) => ({
  statusCode: 201,
  body: { items: await createTasks(body.tasks) },
}));
