import { httpHandler, ok } from '#lib/http/handler';
import { ROUTES } from '#lib/http/routes';
import { getTaskEvents } from '#lib/tasks/queries';

export const handler = httpHandler(ROUTES.getTaskEvents, async ({ params }) => ok(await getTaskEvents(params.id)));
