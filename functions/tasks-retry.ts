import { httpHandler, ok } from '#lib/http/handler';
import { retryTask } from '#lib/tasks/commands';
import { TaskIdParamsSchema } from '#lib/tasks/schemas';

export const handler = httpHandler({ params: TaskIdParamsSchema }, async ({ params }) => ok(await retryTask(params.id)));
