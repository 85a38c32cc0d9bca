import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { BadRequestError, PayloadTooLargeError, UnsupportedMediaTypeError } from '#lib/http/errors';
import { InvalidInputError } from '#lib/tasks/errors';
import { checkJsonValue } from '#lib/tasks/json';

/** Largest accepted body: the SQS message limit. */
export const MAX_BODY_BYTES = 256 * 1024;
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
    throw new InvalidInputError([{ path: 'Idempotency-Key', message: 'must be 1 to 255 characters' }], 'Invalid Idempotency-Key header');
  }
  return key;
}
