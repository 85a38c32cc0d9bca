import { httpHandler, ok } from '#lib/http/handler';
import { ROUTES } from '#lib/http/routes';
import { searchDeadLetters } from '#lib/tasks/dead-letters';

export const handler = httpHandler(ROUTES.listDeadLetters, async ({ query }) => ok(await searchDeadLetters(query)));
