import { httpHandler, ok } from '#lib/http/handler';
import { ROUTES } from '#lib/http/routes';
import { discardDeadLetter } from '#lib/tasks/dead-letters';

export const handler = httpHandler(ROUTES.deleteDeadLetter, async ({ params }) => ok(await discardDeadLetter(params.id)));
