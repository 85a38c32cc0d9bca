import { httpHandler, ok } from '#lib/http/handler';
import { ROUTES } from '#lib/http/routes';
import { retryTask } from '#lib/tasks/commands';

export const handler = httpHandler(ROUTES.retryTask, async ({ params }) => ok(await retryTask(params.id)));
