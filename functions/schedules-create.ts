import { httpHandler } from '#lib/http/handler';
import { ROUTES } from '#lib/http/routes';
import { createSchedule } from '#lib/tasks/schedules';

export const handler = httpHandler(ROUTES.createSchedule, async ({ body }) => {
  const schedule = await createSchedule(body);
  return { statusCode: 201, body: schedule, headers: { location: `/api/v1/schedules/${schedule.id}` } };
});
