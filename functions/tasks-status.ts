import { httpHandler, ok } from '#lib/http/handler';
import { TaskIdParamsSchema } from '#lib/tasks/schemas';
import { getTaskStatus } from '#lib/tasks/service';

export const handler = httpHandler({ params: TaskIdParamsSchema }, async ({ params }) => ok(await getTaskStatus(params.id)));
