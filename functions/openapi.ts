import { httpHandler, ok } from '#lib/http/handler';
import { openApiDocument } from '#lib/http/openapi';
import { ROUTES } from '#lib/http/routes';

export const handler = httpHandler(ROUTES.openapi, async () => ok(openApiDocument()));
