import { httpHandler, ok } from '#lib/http/handler';
import { ROUTES } from '#lib/http/routes';
import { listTaskTypesWithState } from '#lib/tasks/task-types';

export const handler = httpHandler(ROUTES.listTaskTypes, async () => ok(await listTaskTypesWithState()));
