import { httpHandler, ok } from '#lib/http/handler';
import { openApiDocument } from '#lib/http/openapi';
import * as routes from '#lib/http/routes';

export const handler = httpHandler(routes.openapi, async () => ok(openApiDocument()));
