import { httpHandler, ok } from '#lib/http/handler';
import { ROUTES } from '#lib/http/routes';
import { searchSchedules } from '#lib/tasks/schedule-queries';

export const handler = httpHandler(ROUTES.listSchedules, async ({ query }) => ok(await searchSchedules(query)));
