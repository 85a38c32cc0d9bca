import { checkHealth } from '#lib/health';
import { httpHandler } from '#lib/http/handler';

export const handler = httpHandler({ public: true }, async () => {
  const health = await checkHealth();
  return { statusCode: health.status === 'ok' ? 200 : 503, body: health };
});
