import { httpHandler, ok } from '#lib/http/handler';
import * as routes from '#lib/http/routes';
import { discardDeadLetter } from '#lib/tasks/dead-letters';

export const handler = httpHandler(routes.deleteDeadLetter, async ({ params }) => ok(await discardDeadLetter(params.id)));
