import { httpHandler, ok } from '#lib/http/handler';
import { ROUTES } from '#lib/http/routes';
import { updateSchedule } from '#lib/tasks/schedules';

export const handler = httpHandler(ROUTES.updateSchedule, async ({ params, body }) => ok(await updateSchedule(params.id, body)));
