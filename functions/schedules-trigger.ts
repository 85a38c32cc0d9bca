import { httpHandler } from '#lib/http/handler';
import * as routes from '#lib/http/routes';
import { triggerSchedule } from '#lib/tasks/schedules';

export const handler = httpHandler(routes.triggerSchedule, async ({ params }) => {
  const task = await triggerSchedule(params.id);
  return { statusCode: 201, body: task, headers: { location: `/api/v1/tasks/${task.id}` } };
});
