import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import type { z } from 'zod';
import { BadRequestError, type FieldError, PayloadTooLargeError, UnsupportedMediaTypeError, ValidationError } from '#lib/http/errors';

/** Largest accepted body: the SQS message limit. */
export const MAX_BODY_BYTES = 256 * 1024;
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

/** A strict UTF-8 decoder (it keeps no state between calls). */
const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** Parses a JSON request body, enforcing the size limit (413), the content type (415) and JSON syntax (400). */
export function parseJsonBody(event: APIGatewayProxyEventV2): unknown {
  const raw = event.body ?? '';
  const bytes = event.isBase64Encoded ? Buffer.from(raw, 'base64') : Buffer.from(raw, 'utf8');
  if (bytes.length > MAX_BODY_BYTES) {
    throw new PayloadTooLargeError(`The body is ${bytes.length} bytes; the limit is ${MAX_BODY_BYTES} bytes (256 KiB)`);
  }
  const contentType = event.headers?.['content-type'];
  if (bytes.length > 0 && contentType !== undefined && !/^application\/([\w.+-]+\+)?json\s*(;|$)/i.test(contentType)) {
    throw new UnsupportedMediaTypeError(`Content type '${contentType.slice(0, 100)}' is not supported; send application/json`);
  }
  if (bytes.length === 0) throw new BadRequestError('The request body is empty; send a JSON object');
  let text: string;
  try {
    text = UTF8.decode(bytes);
  } catch {
    throw new BadRequestError('The request body is not valid UTF-8');
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new BadRequestError(`The request body is not valid JSON: ${(err as Error).message}`);
  }
  checkJsonValue(value, 0, '');
  return value;
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
