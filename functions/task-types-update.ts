import { httpHandler, ok } from '#lib/http/handler';
import * as routes from '#lib/http/routes';
import { updateTaskType } from '#lib/tasks/task-types';

export const handler = httpHandler(routes.updateTaskType, async ({ params, body }) => ok(await updateTaskType(params.name, body)));
