import { httpHandler, ok } from '#lib/http/handler';
import * as routes from '#lib/http/routes';
import { getTaskCallbacks } from '#lib/tasks/callbacks';

export const handler = httpHandler(routes.getTaskCallbacks, async ({ params }) => ok(await getTaskCallbacks(params.id)));
