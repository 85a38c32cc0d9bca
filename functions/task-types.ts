import { httpHandler, ok } from '#lib/http/handler';
import { ROUTES } from '#lib/http/routes';
import { listTaskTypes } from '#lib/tasks/catalog';

export const handler = httpHandler(ROUTES.listTaskTypes, async () => ok(listTaskTypes()));
