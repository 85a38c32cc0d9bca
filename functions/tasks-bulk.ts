import { httpHandler, ok } from '#lib/http/handler';
import { bulkActionResult } from '#lib/http/problem';
import { ROUTES } from '#lib/http/routes';
import { bulkAction } from '#lib/tasks/bulk';

export const handler = httpHandler(ROUTES.bulkAction, async ({ body }) => ok(bulkActionResult(body.action, await bulkAction(body))));
