import { httpHandler, ok } from '#lib/http/handler';
import * as routes from '#lib/http/routes';
import { listTaskTypesWithState } from '#lib/tasks/task-types';

export const handler = httpHandler(routes.listTaskTypes, async () => ok(await listTaskTypesWithState()));
