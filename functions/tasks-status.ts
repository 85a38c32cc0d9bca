import { httpHandler, ok } from '#lib/http/handler';
import { getTaskStatus } from '#lib/tasks/queries';
import { TaskIdParamsSchema } from '#lib/tasks/schemas';

export const handler = httpHandler({ params: TaskIdParamsSchema }, async ({ params }) => ok(await getTaskStatus(params.id)));
