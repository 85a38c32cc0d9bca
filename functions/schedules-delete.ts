import { httpHandler } from '#lib/http/handler';
import { ROUTES } from '#lib/http/routes';
import { deleteSchedule } from '#lib/tasks/schedules';

export const handler = httpHandler(ROUTES.deleteSchedule, async ({ params }) => {
  await deleteSchedule(params.id);
  return { statusCode: 204 };
});
