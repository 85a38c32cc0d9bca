import { checkHealth } from '#lib/health';
import { httpHandler } from '#lib/http/handler';
import * as routes from '#lib/http/routes';

export const handler = httpHandler(routes.health, async () => {
  const health = await checkHealth();
  return { statusCode: health.status === 'ok' ? 200 : 503, body: health };
});
