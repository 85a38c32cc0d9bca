import type { Context } from 'aws-lambda';
import type { HttpEvent, HttpResult } from '#lib/http/handler';

type Handler = (event: HttpEvent, context: Context) => Promise<HttpResult>;

interface Route {
  method: string;
  pattern: RegExp;
  load: () => Promise<{ handler: Handler }>;
}

const ID = '(?<id>[^/]+)';

/**
 * The HTTP routes of serverless.yml, for the catch-all function: API Gateway HTTP APIs match paths exactly,
 * so `/api/v1/tasks/` arrives there and is handed to the handler of `/api/v1/tasks`.
 */
const ROUTES: Route[] = [
  { method: 'POST', pattern: /^\/api\/v1\/tasks\/bulk$/, load: () => import('../../functions/tasks-bulk') },
  { method: 'GET', pattern: /^\/api\/v1\/stats$/, load: () => import('../../functions/stats') },
  { method: 'GET', pattern: /^\/api\/v1\/task-types$/, load: () => import('../../functions/task-types') },
  { method: 'POST', pattern: /^\/api\/v1\/tasks$/, load: () => import('../../functions/tasks-create') },
  { method: 'GET', pattern: /^\/api\/v1\/tasks$/, load: () => import('../../functions/tasks-list') },
  { method: 'GET', pattern: new RegExp(`^/api/v1/tasks/${ID}$`), load: () => import('../../functions/tasks-get') },
  { method: 'PATCH', pattern: new RegExp(`^/api/v1/tasks/${ID}$`), load: () => import('../../functions/tasks-update') },
  { method: 'DELETE', pattern: new RegExp(`^/api/v1/tasks/${ID}$`), load: () => import('../../functions/tasks-cancel') },
  { method: 'GET', pattern: new RegExp(`^/api/v1/tasks/${ID}/status$`), load: () => import('../../functions/tasks-status') },
  { method: 'GET', pattern: new RegExp(`^/api/v1/tasks/${ID}/events$`), load: () => import('../../functions/tasks-events') },
  { method: 'POST', pattern: new RegExp(`^/api/v1/tasks/${ID}/retry$`), load: () => import('../../functions/tasks-retry') },
  { method: 'GET', pattern: /^\/health$/, load: () => import('../../functions/health') },
  { method: 'GET', pattern: /^\/docs$/, load: () => import('../../functions/docs') },
  { method: 'GET', pattern: /^\/dashboard$/, load: () => import('../../functions/dashboard') },
];

/** The handler and path parameters for a request whose path ends with a slash, if a route matches without it. */
export async function matchTrailingSlash(event: HttpEvent): Promise<{ handler: Handler; event: HttpEvent } | undefined> {
  const path = event.rawPath;
  if (!path.endsWith('/') || path === '/') return undefined;
  const trimmed = path.replace(/\/+$/, '');
  const method = event.requestContext.http.method;
  for (const route of ROUTES) {
    const m = route.method === method ? route.pattern.exec(trimmed) : null;
    if (!m) continue;
    const { handler } = await route.load();
    const pathParameters = m.groups ? { ...m.groups } : undefined;
    return { handler, event: { ...event, rawPath: trimmed, routeKey: `${method} ${trimmed}`, pathParameters } };
  }
  return undefined;
}
