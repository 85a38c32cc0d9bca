import type { z } from 'zod';
import { type FieldError, ValidationError } from '#lib/http/errors';

/** Deepest nesting accepted in a JSON body. */
export const MAX_JSON_DEPTH = 32;

/** Converts zod issues to the contract's `errors` list (`path` joined with dots). */
export function zodIssuesToFieldErrors(issues: readonly z.core.$ZodIssue[]): FieldError[] {
  return issues.map((i) => ({ path: i.path.map(String).join('.') || '(root)', message: i.message }));
}

/** Why PostgreSQL could not store a string (NUL, or a lone UTF-16 surrogate from a `\\ud800` escape), if it could not. */
function unstorable(s: string): string | undefined {
  if (s.includes('\u0000')) return 'must not contain NUL characters';
  if (!s.isWellFormed()) return 'must not contain unpaired Unicode surrogates';
  return undefined;
}

/** Rejects JSON values PostgreSQL cannot store and nesting deeper than MAX_JSON_DEPTH (422 naming the field). */
export function checkJsonValue(value: unknown, depth = 0, path = ''): void {
  if (depth > MAX_JSON_DEPTH) throw new ValidationError([{ path, message: `nesting deeper than ${MAX_JSON_DEPTH} levels` }]);
  if (typeof value === 'string') {
    const problem = unstorable(value);
    if (problem) throw new ValidationError([{ path: path || '(root)', message: problem }]);
  } else if (Array.isArray(value)) {
    value.forEach((v, i) => {
      checkJsonValue(v, depth + 1, path ? `${path}.${i}` : String(i));
    });
  } else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      const problem = unstorable(k);
      if (problem) throw new ValidationError([{ path: path || '(root)', message: `keys ${problem}` }]);
      checkJsonValue(v, depth + 1, path ? `${path}.${k}` : k);
    }
  }
}

/** The `Idempotency-Key` header, validated (1–255 characters); undefined when absent. */
export function idempotencyKeyOf(headers: Record<string, string | undefined>): string | undefined {
  const key = headers['idempotency-key'];
  if (key === undefined) return undefined;
  if (key.length < 1 || key.length > 255 || key.includes('\u0000')) {
    throw new ValidationError([{ path: 'Idempotency-Key', message: 'must be 1 to 255 characters' }], 'Invalid Idempotency-Key header');
  }
  return key;
}
