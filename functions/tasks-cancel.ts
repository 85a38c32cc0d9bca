import { httpHandler, ok } from '#lib/http/handler';
import { ROUTES } from '#lib/http/routes';
import { cancelTask } from '#lib/tasks/commands';

export const handler = httpHandler(ROUTES.cancelTask, async ({ params }) => ok(await cancelTask(params.id)));
