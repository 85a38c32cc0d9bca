import { httpHandler, ok } from '#lib/http/handler';
import { getTaskEvents } from '#lib/tasks/queries';
import { TaskIdParamsSchema } from '#lib/tasks/schemas';

export const handler = httpHandler({ params: TaskIdParamsSchema }, async ({ params }) => ok(await getTaskEvents(params.id)));
