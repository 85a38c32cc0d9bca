import { httpHandler, ok } from '#lib/http/handler';
import { ROUTES } from '#lib/http/routes';
import { bulkAction } from '#lib/tasks/bulk';

export const handler = httpHandler(ROUTES.bulkAction, async ({ body }) => ok(await bulkAction(body)));
