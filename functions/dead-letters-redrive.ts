import { httpHandler, ok } from '#lib/http/handler';
import * as routes from '#lib/http/routes';
import { redriveDeadLetter } from '#lib/tasks/dead-letters';

export const handler = httpHandler(routes.redriveDeadLetter, async ({ params }) => ok(await redriveDeadLetter(params.id)));
