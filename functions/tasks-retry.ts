import { httpHandler, ok } from '#lib/http/handler';
import * as routes from '#lib/http/routes';
import { retryTask } from '#lib/tasks/commands';

export const handler = httpHandler(routes.retryTask, async ({ params }) => ok(await retryTask(params.id)));
