import { docsAsset, swaggerUiPage } from '#lib/http/docs';
import { HttpError } from '#lib/http/errors';
import { type HttpAnswer, httpHandler } from '#lib/http/handler';
import * as routes from '#lib/http/routes';

export const handler = httpHandler(routes.docs, async ({ event }): Promise<HttpAnswer> => {
  const name = event.pathParameters?.asset;
  if (!name) {
    return { statusCode: 200, headers: { 'content-type': 'text/html; charset=utf-8' }, body: swaggerUiPage('/openapi.json') };
  }
  const asset = docsAsset(name);
  if (!asset) throw new HttpError(404, 'Not Found', `No documentation asset named '${name.slice(0, 100)}'`);
  return { statusCode: 200, headers: { 'content-type': asset.contentType, 'cache-control': 'public, max-age=86400' }, body: asset.body };
});
