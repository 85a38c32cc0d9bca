import { httpHandler, ok } from '#lib/http/handler';
import * as routes from '#lib/http/routes';
import { getSchedule } from '#lib/tasks/schedule-queries';

export const handler = httpHandler(routes.getSchedule, async ({ params }) => ok(await getSchedule(params.id)));
