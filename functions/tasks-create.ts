import { httpHandler } from '#lib/http/handler';
import { idempotencyKeyOf } from '#lib/http/input';
import * as routes from '#lib/http/routes';
import { createTask } from '#lib/tasks/commands';

export const handler = httpHandler(routes.createTask, async ({ body, headers }) => {
  const { task, created } = await createTask(body, idempotencyKeyOf(headers));
  return { statusCode: created ? 201 : 200, body: task, headers: { location: `/api/v1/tasks/${task.id}` } };
});
