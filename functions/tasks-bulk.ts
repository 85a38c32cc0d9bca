import { httpHandler, ok } from '#lib/http/handler';
import { bulkActionResult } from '#lib/http/problem';
import { bulkAction } from '#lib/tasks/bulk';
import { BulkActionSchema } from '#lib/tasks/schemas';

export const handler = httpHandler({ body: BulkActionSchema }, async ({ body }) =>
  ok(bulkActionResult(body.action, await bulkAction(body))),
);
