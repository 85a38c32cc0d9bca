import { httpHandler, ok } from '#lib/http/handler';
import { bulkActionResult } from '#lib/http/problem';
import * as routes from '#lib/http/routes';
import { bulkAction } from '#lib/tasks/bulk';

export const handler = httpHandler(routes.bulkAction, async ({ body }) => ok(bulkActionResult(body.action, await bulkAction(body))));
