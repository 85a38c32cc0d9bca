import { httpHandler, ok } from '#lib/http/handler';
import { ROUTES } from '#lib/http/routes';
import { getTaskCallbacks } from '#lib/tasks/callbacks';

export const handler = httpHandler(ROUTES.getTaskCallbacks, async ({ params }) => ok(await getTaskCallbacks(params.id)));
