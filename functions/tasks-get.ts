import { httpHandler, ok } from '#lib/http/handler';
import { TaskIdParamsSchema } from '#lib/tasks/schemas';
import { getTask } from '#lib/tasks/service';

export const handler = httpHandler({ params: TaskIdParamsSchema }, async ({ params }) => ok(await getTask(params.id)));
