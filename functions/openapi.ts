import { httpHandler, ok } from '#lib/http/handler';
import { openApiDocument } from '#lib/http/openapi';

export const handler = httpHandler({ public: true }, async () => ok(openApiDocument()));
