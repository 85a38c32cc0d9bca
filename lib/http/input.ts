import { InvalidInputError } from '#lib/tasks/errors';

/** The `Idempotency-Key` header, validated (1–255 characters); undefined when absent. */
export function idempotencyKeyOf(headers: Record<string, string | undefined>): string | undefined {
  const key = headers['idempotency-key'];
  if (key === undefined) return undefined;
  if (key.length < 1 || key.length > 255 || key.includes('\u0000')) {
    throw new InvalidInputError([{ path: 'Idempotency-Key', message: 'must be 1 to 255 characters' }], 'Invalid Idempotency-Key header');
  }
  return key;
}
