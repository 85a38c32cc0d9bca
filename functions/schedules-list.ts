import { httpHandler, ok } from '#lib/http/handler';
import * as routes from '#lib/http/routes';
import { searchSchedules } from '#lib/tasks/schedule-queries';

export const handler = httpHandler(routes.listSchedules, async ({ query }) => ok(await searchSchedules(query)));
