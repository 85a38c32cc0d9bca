import { httpHandler, ok } from '#lib/http/handler';
import { redriveManyResult } from '#lib/http/problem';
import * as routes from '#lib/http/routes';
import { redriveDeadLetters } from '#lib/tasks/dead-letters';

export const handler = httpHandler(routes.redriveDeadLetters, async ({ body }) =>
  ok(redriveManyResult(body.queue, await redriveDeadLetters(body))),
);
