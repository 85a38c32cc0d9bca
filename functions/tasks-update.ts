import { httpHandler, ok } from '#lib/http/handler';
import { TaskIdParamsSchema, UpdateTaskSchema } from '#lib/tasks/schemas';
import { updateTask } from '#lib/tasks/service';

export const handler = httpHandler({ params: TaskIdParamsSchema, body: UpdateTaskSchema }, async ({ params, body }) =>
  ok(await updateTask(params.id, body)),
);
