import { httpHandler } from '#lib/http/handler';
import * as routes from '#lib/http/routes';
import { metricsText } from '#lib/tasks/metrics';

export const handler = httpHandler(routes.metrics, async () => {
  const { contentType, body } = await metricsText();
  return { statusCode: 200, body, headers: { 'content-type': contentType, 'cache-control': 'no-store' } };
});
