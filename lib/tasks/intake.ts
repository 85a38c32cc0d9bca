import { HttpError, ValidationError } from '#lib/http/errors';
import { zodIssuesToFieldErrors } from '#lib/http/input';
import { logger } from '#lib/logger';
import { queue } from '#lib/queue/client';
import { IntakeMessageSchema } from '#lib/tasks/schemas';
import { createTask } from '#lib/tasks/service';

/** Sends an intake message that can never be valid to `task_intake.dlq`, with the reason. */
async function reject(body: string, reason: string, errors?: unknown): Promise<'done'> {
  await queue().publish('task_intake.dlq', [{ body: JSON.stringify({ reason, errors, message: body, at: new Date().toISOString() }) }]);
  logger.warn('intake message sent to task_intake.dlq', { reason, errors });
  return 'done';
}

/** Creates a task from a `task_intake` message exactly as the HTTP route does; an invalid message is dead-lettered. */
export async function processIntakeMessage(body: string): Promise<'done' | 'retry'> {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return reject(body, 'the message is not valid JSON');
  }
  const parsed = IntakeMessageSchema.safeParse(json);
  if (!parsed.success) return reject(body, 'the message is not a valid task', zodIssuesToFieldErrors(parsed.error.issues));
  const { idempotency_key, ...input } = parsed.data;
  try {
    const { task, created } = await createTask(input, idempotency_key);
    logger.info(created ? 'task created from intake' : 'intake repeat of an existing task', { task_id: task.id });
    return 'done';
  } catch (err) {
    if (err instanceof ValidationError) return reject(body, err.message, err.errors);
    if (err instanceof HttpError && err.status < 500 && err.status !== 409) return reject(body, err.message);
    throw err;
  }
}
