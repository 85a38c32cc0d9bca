import { httpHandler, ok } from '#lib/http/handler';
import { ROUTES } from '#lib/http/routes';
import { getSchedule } from '#lib/tasks/schedule-queries';

export const handler = httpHandler(ROUTES.getSchedule, async ({ params }) => ok(await getSchedule(params.id)));
