import { httpHandler } from '#lib/http/handler';
import * as routes from '#lib/http/routes';
import { createSchedule } from '#lib/tasks/schedules';

export const handler = httpHandler(routes.createSchedule, async ({ body }) => {
  const schedule = await createSchedule(body);
  return { statusCode: 201, body: schedule, headers: { location: `/api/v1/schedules/${schedule.id}` } };
});
