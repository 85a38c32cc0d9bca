import { httpHandler, ok } from '#lib/http/handler';
import { cancelTask } from '#lib/tasks/commands';
import { TaskIdParamsSchema } from '#lib/tasks/schemas';

export const handler = httpHandler({ params: TaskIdParamsSchema }, async ({ params }) => ok(await cancelTask(params.id)));
