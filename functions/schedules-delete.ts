import { httpHandler } from '#lib/http/handler';
import * as routes from '#lib/http/routes';
import { deleteSchedule } from '#lib/tasks/schedules';

export const handler = httpHandler(routes.deleteSchedule, async ({ params }) => {
  await deleteSchedule(params.id);
  return { statusCode: 204 };
});
