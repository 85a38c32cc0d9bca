import { httpHandler, ok } from '#lib/http/handler';
import { ROUTES } from '#lib/http/routes';
import { redriveDeadLetter } from '#lib/tasks/dead-letters';

export const handler = httpHandler(ROUTES.redriveDeadLetter, async ({ params }) => ok(await redriveDeadLetter(params.id)));
