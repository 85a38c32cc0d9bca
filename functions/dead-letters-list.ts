import { httpHandler, ok } from '#lib/http/handler';
import * as routes from '#lib/http/routes';
import { searchDeadLetters } from '#lib/tasks/dead-letters';

export const handler = httpHandler(routes.listDeadLetters, async ({ query }) => ok(await searchDeadLetters(query)));
