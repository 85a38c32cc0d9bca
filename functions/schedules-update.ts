import { httpHandler, ok } from '#lib/http/handler';
import * as routes from '#lib/http/routes';
import { updateSchedule } from '#lib/tasks/schedules';

export const handler = httpHandler(routes.updateSchedule, async ({ params, body }) => ok(await updateSchedule(params.id, body)));
