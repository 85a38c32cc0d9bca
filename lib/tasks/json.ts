import { InvalidInputError } from '#lib/tasks/errors';

/** Deepest nesting accepted in a JSON value. */
export const MAX_JSON_DEPTH = 32;

/** Why PostgreSQL could not store a string (NUL, or a lone UTF-16 surrogate from a `\\ud800` escape), if it could not. */
function unstorable(s: string): string | undefined {
  if (s.includes('\u0000')) return 'must not contain NUL characters';
  if (!s.isWellFormed()) return 'must not contain unpaired Unicode surrogates';
  return undefined;
}

/** Rejects JSON values PostgreSQL cannot store and nesting deeper than MAX_JSON_DEPTH (InvalidInputError naming the field). */
export function checkJsonValue(value: unknown, depth = 0, path = ''): void {
  if (depth > MAX_JSON_DEPTH) throw new InvalidInputError([{ path, message: `nesting deeper than ${MAX_JSON_DEPTH} levels` }]);
  if (typeof value === 'string') {
    const problem = unstorable(value);
    if (problem) throw new InvalidInputError([{ path: path || '(root)', message: problem }]);
  } else if (Array.isArray(value)) {
    value.forEach((v, i) => {
      checkJsonValue(v, depth + 1, path ? `${path}.${i}` : String(i));
    });
  } else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      const problem = unstorable(k);
      if (problem) throw new InvalidInputError([{ path: path || '(root)', message: `keys ${problem}` }]);
      checkJsonValue(v, depth + 1, path ? `${path}.${k}` : k);
    }
  }
}
