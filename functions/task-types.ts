import { httpHandler, ok } from '#lib/http/handler';
import { listTaskTypes } from '#lib/tasks/catalog';

export const handler = httpHandler({}, async () => ok(listTaskTypes()));
