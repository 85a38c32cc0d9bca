import { httpHandler, ok } from '#lib/http/handler';
import * as routes from '#lib/http/routes';
import { updateTask } from '#lib/tasks/commands';

export const handler = httpHandler(routes.updateTask, async ({ params, body }) => ok(await updateTask(params.id, body)));
