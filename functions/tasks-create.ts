import { httpHandler } from '#lib/http/handler';
import { idempotencyKeyOf } from '#lib/http/input';
import { createTask } from '#lib/tasks/commands';
import { CreateTaskSchema } from '#lib/tasks/schemas';

export const handler = httpHandler({ body: CreateTaskSchema }, async ({ body, headers }) => {
  const { task, created } = await createTask(body, idempotencyKeyOf(headers));
  return { statusCode: created ? 201 : 200, body: task, headers: { location: `/api/v1/tasks/${task.id}` } };
});
