import type { MiddlewareObj } from '@middy/core';
import httpJsonBodyParser from '@middy/http-json-body-parser';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { BadRequestError, PayloadTooLargeError, UnsupportedMediaTypeError } from '#lib/http/errors';
import { checkJsonValue } from '#lib/tasks/json';

/** Largest accepted body: the SQS message limit. */
export const MAX_BODY_BYTES = 256 * 1024;

/** A JSON media type (`application/json`, `application/merge-patch+json`), parameters allowed. */
const JSON_MEDIA_TYPE = /^application\/([\w.+-]+\+)?json\s*(;|$)/i;

/** A strict UTF-8 decoder (it keeps no state between calls). */
const UTF8 = new TextDecoder('utf-8', { fatal: true });

type Middleware = MiddlewareObj<APIGatewayProxyEventV2>;

/**
 * Before the parser: the size limit (413), the content type (415; a body without one is taken as JSON), an empty
 * body (400) and UTF-8 (400). Leaves the body as text for the parser, base64 decoded.
 */
const bodyChecks = (): Middleware => ({
  before: ({ event }) => {
    const raw = event.body ?? '';
    const bytes = event.isBase64Encoded ? Buffer.from(raw, 'base64') : Buffer.from(raw, 'utf8');
    if (bytes.length > MAX_BODY_BYTES) {
      throw new PayloadTooLargeError(`The body is ${bytes.length} bytes; the limit is ${MAX_BODY_BYTES} bytes (256 KiB)`);
    }
    const contentType = event.headers?.['content-type'];
    if (bytes.length > 0 && contentType !== undefined && !JSON_MEDIA_TYPE.test(contentType)) {
      throw new UnsupportedMediaTypeError(`Content type '${contentType.slice(0, 100)}' is not supported; send application/json`);
    }
    if (bytes.length === 0) throw new BadRequestError('The request body is empty; send a JSON object');
    try {
      event.body = UTF8.decode(bytes);
    } catch {
      throw new BadRequestError('The request body is not valid UTF-8');
    }
    event.isBase64Encoded = false;
  },
});

/**
 * @middy/http-json-body-parser, with a body that is not JSON answered 400 as the contract says (the parser itself
 * throws 415 for it). Its own content type check is off: bodyChecks has made it, and takes a body sent without a
 * content type as JSON, which the parser would refuse.
 */
const jsonParser = (): Middleware => {
  // `disableContentTypeCheck` is an option of the parser's code that its type declarations leave out.
  const parser = httpJsonBodyParser({ disableContentTypeCheck: true } as Parameters<typeof httpJsonBodyParser>[0]);
  return {
    before: async (request) => {
      try {
        await parser.before?.(request);
      } catch (err) {
        const reason = (err as { cause?: { message?: unknown } }).cause?.message;
        if (typeof reason !== 'string') throw err;
        throw new BadRequestError(`The request body is not valid JSON: ${reason}`);
      }
    },
  };
};

/** After the parser: strings PostgreSQL cannot store (NUL, unpaired surrogates) and nesting too deep (422). */
const storableValues = (): Middleware => ({
  before: ({ event }) => {
    checkJsonValue(event.body as unknown, 0, '');
  },
});

/**
 * The JSON body of a request, in middy's order: the checks of the raw body, the parser, then the checks of the parsed
 * value. Afterwards `event.body` holds the parsed value.
 */
export const jsonBody = (): Middleware[] => [bodyChecks(), jsonParser(), storableValues()];
