import { httpHandler, ok } from '#lib/http/handler';
import { bulkAction } from '#lib/tasks/bulk';
import { BulkActionSchema } from '#lib/tasks/schemas';

export const handler = httpHandler({ body: BulkActionSchema }, async ({ body }) => ok(await bulkAction(body)));
