import { httpHandler, ok } from '#lib/http/handler';
import { updateTask } from '#lib/tasks/commands';
import { TaskIdParamsSchema, UpdateTaskSchema } from '#lib/tasks/schemas';

export const handler = httpHandler({ params: TaskIdParamsSchema, body: UpdateTaskSchema }, async ({ params, body }) =>
  ok(await updateTask(params.id, body)),
);
