import { httpHandler, ok } from '#lib/http/handler';
import * as routes from '#lib/http/routes';
import { cancelTask } from '#lib/tasks/commands';

export const handler = httpHandler(routes.cancelTask, async ({ params }) => ok(await cancelTask(params.id)));
