import { httpHandler, ok } from '#lib/http/handler';
import * as routes from '#lib/http/routes';
import { getTaskEvents } from '#lib/tasks/queries';

export const handler = httpHandler(routes.getTaskEvents, async ({ params }) => ok(await getTaskEvents(params.id)));
