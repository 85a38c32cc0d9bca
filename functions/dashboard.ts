import { HttpError, ServiceUnavailableError } from '#lib/http/errors';
import { type HttpAnswer, httpHandler } from '#lib/http/handler';
import * as routes from '#lib/http/routes';
import { looksLikeFile, type StaticFile, staticSite } from '#lib/http/static';

const site = staticSite('dashboard/dist');

// Vite names every file under assets/ by a hash of its content, so they never change and can be kept for a year.
const IMMUTABLE = 'public, max-age=31536000, immutable';
const PAGE_HEADERS = {
  'cache-control': 'no-cache',
  'content-security-policy':
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; connect-src 'self'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
};

function answer(file: StaticFile, ifNoneMatch: string | undefined, headers: Record<string, string>): HttpAnswer {
  const all = { ...headers, 'content-type': file.contentType, etag: file.etag };
  if (ifNoneMatch === file.etag) return { statusCode: 304, headers: all, body: '' };
  return { statusCode: 200, headers: all, body: file.body };
}

/** The dashboard: its files, and its page for every other path under /dashboard (routes of the page itself). */
export const handler = httpHandler(routes.dashboard, async ({ event, headers }): Promise<HttpAnswer> => {
  if (!site.available()) throw new ServiceUnavailableError('The dashboard is not built; run `npm run build:dashboard`');
  const requested = event.pathParameters?.path ?? '';
  const ifNoneMatch = headers['if-none-match'];
  if (looksLikeFile(requested) && requested !== 'index.html') {
    const file = site.file(requested);
    if (!file) throw new HttpError(404, 'Not Found', `No dashboard file named '${requested.slice(0, 100)}'`);
    const cache = requested.startsWith('assets/') ? IMMUTABLE : 'public, max-age=3600';
    return answer(file, ifNoneMatch, { 'cache-control': cache, 'x-content-type-options': 'nosniff' });
  }
  return answer(site.file('index.html') as StaticFile, ifNoneMatch, PAGE_HEADERS);
});
