import { httpHandler, ok } from '#lib/http/handler';
import { ROUTES } from '#lib/http/routes';
import { updateTaskType } from '#lib/tasks/task-types';

export const handler = httpHandler(ROUTES.updateTaskType, async ({ params, body }) => ok(await updateTaskType(params.name, body)));
