import { randomUUID } from 'node:crypto';
import { isConnectionError, isDatabaseBusy } from '#lib/db/retry';
import { logger } from '#lib/logger';
import { withRequestContext } from '#lib/request-context';
import { createTask } from '#lib/tasks/commands';
import { deadLetter } from '#lib/tasks/dead-letters';
import { ConflictError, DomainError, type FieldError, InvalidInputError, zodIssuesToFieldErrors } from '#lib/tasks/errors';
import { checkJsonValue } from '#lib/tasks/json';
import { IntakeMessageSchema } from '#lib/tasks/schemas';

/** Deliveries of one intake message before it is dead-lettered with its last error (the SQS redrive count). */
export const MAX_INTAKE_RECEIVES = 5;

/** Dead-letters an intake message that can never be valid, with the reason. */
async function reject(body: string, reason: string, errors?: FieldError[], receiveCount = 1): Promise<'done'> {
  await deadLetter('task_intake', body, reason, errors, receiveCount);
  return 'done';
}

/** PostgreSQL's "data exception" class: a value it can never store, so trying again cannot help. */
const isDataException = (err: unknown) =>
  /^22/.test(String((err as { cause?: { code?: unknown } })?.cause?.code ?? (err as { code?: unknown })?.code ?? ''));

/**
 * Creates a task from a `task_intake` message exactly as the HTTP route does. An invalid message is dead-lettered
 * with the reason; a message that keeps failing is dead-lettered after MAX_INTAKE_RECEIVES deliveries.
 */
export async function processIntakeMessage(body: string, receiveCount = 1): Promise<'done' | 'retry'> {
  // A message is a request of its own: its lines, and those of its task's runs, carry an id made for it.
  return withRequestContext({ request_id: randomUUID() }, () => createFromIntake(body, receiveCount));
}

async function createFromIntake(body: string, receiveCount: number): Promise<'done' | 'retry'> {
  let json: unknown;
  try {
    json = JSON.parse(body);
    checkJsonValue(json);
  } catch (err) {
    if (err instanceof InvalidInputError) return reject(body, 'the message is not a valid task', err.errors, receiveCount);
    return reject(body, 'the message is not valid JSON', undefined, receiveCount);
  }
  const parsed = IntakeMessageSchema.safeParse(json);
  if (!parsed.success) return reject(body, 'the message is not a valid task', zodIssuesToFieldErrors(parsed.error.issues), receiveCount);
  const { idempotency_key, ...input } = parsed.data;
  try {
    const { task, created } = await createTask(input, idempotency_key);
    logger.info(created ? 'task created from intake' : 'intake repeat of an existing task', { task_id: task.id });
    return 'done';
  } catch (err) {
    if (err instanceof InvalidInputError) return reject(body, err.message, err.errors, receiveCount);
    // A conflict (a concurrent request with the same key) passes; any other refusal of the domain is final.
    if (err instanceof DomainError && !(err instanceof ConflictError)) return reject(body, err.message, undefined, receiveCount);
    if (isDataException(err)) return reject(body, 'the database cannot store a value of this message', undefined, receiveCount);
    // An unreachable database or a busy pool is waited out; any other repeated failure ends in the dead-letter queue.
    if (receiveCount >= MAX_INTAKE_RECEIVES && !isConnectionError(err) && !isDatabaseBusy(err))
      return reject(body, `failed ${receiveCount} times: ${(err as Error).message}`.slice(0, 1_000), undefined, receiveCount);
    throw err;
  }
}
