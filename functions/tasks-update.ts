import { httpHandler, ok } from '#lib/http/handler';
import { ROUTES } from '#lib/http/routes';
import { updateTask } from '#lib/tasks/commands';

export const handler = httpHandler(ROUTES.updateTask, async ({ params, body }) => ok(await updateTask(params.id, body)));
