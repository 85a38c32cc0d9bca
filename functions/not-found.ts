import type { Context } from 'aws-lambda';
import { HttpError } from '#lib/http/errors';
import { type HttpEvent, type HttpResult, httpHandler } from '#lib/http/handler';
import { CATCH_ALL, matchTrailingSlash, type RouteFunction } from '#lib/http/routes';

type Handler = (event: HttpEvent, context: Context) => Promise<HttpResult>;

/** The handler module of each function of the route manifest (the compiler holds the two together). */
const FUNCTIONS: Record<RouteFunction, () => Promise<{ handler: Handler }>> = {
  tasksCreate: () => import('./tasks-create'),
  tasksList: () => import('./tasks-list'),
  tasksGet: () => import('./tasks-get'),
  tasksUpdate: () => import('./tasks-update'),
  tasksCancel: () => import('./tasks-cancel'),
  tasksStatus: () => import('./tasks-status'),
  tasksEvents: () => import('./tasks-events'),
  tasksCallbacks: () => import('./tasks-callbacks'),
  tasksRetry: () => import('./tasks-retry'),
  tasksBulk: () => import('./tasks-bulk'),
  schedulesCreate: () => import('./schedules-create'),
  schedulesList: () => import('./schedules-list'),
  schedulesGet: () => import('./schedules-get'),
  schedulesUpdate: () => import('./schedules-update'),
  schedulesDelete: () => import('./schedules-delete'),
  schedulesTrigger: () => import('./schedules-trigger'),
  tasksBatch: () => import('./tasks-batch'),
  deadLettersList: () => import('./dead-letters-list'),
  deadLettersRedrive: () => import('./dead-letters-redrive'),
  deadLettersRedriveMany: () => import('./dead-letters-redrive-many'),
  deadLettersDelete: () => import('./dead-letters-delete'),
  taskTypes: () => import('./task-types'),
  taskTypesUpdate: () => import('./task-types-update'),
  stats: () => import('./stats'),
  metrics: () => import('./metrics'),
  health: () => import('./health'),
  openapi: () => import('./openapi'),
  docs: () => import('./docs'),
  dashboard: () => import('./dashboard'),
  ping: () => import('./ping'),
};

// Public: an unknown route is a 404 with or without an API key.
const notFound = httpHandler(CATCH_ALL, async ({ event }) => {
  throw new HttpError(404, 'Not Found', `No route for ${event.requestContext.http.method} ${event.rawPath}`);
});

/**
 * The catch-all route: API Gateway HTTP APIs match paths exactly, so `/api/v1/tasks/` arrives here and is handed to
 * the handler of `/api/v1/tasks`; anything else is a 404.
 */
export const handler = async (event: HttpEvent, context: Context): Promise<HttpResult> => {
  const method = event.requestContext.http.method;
  const match = matchTrailingSlash(method, event.rawPath);
  if (!match) return notFound(event, context);
  const { handler: routeHandler } = await FUNCTIONS[match.function]();
  const pathParameters = match.pathParameters;
  return routeHandler({ ...event, rawPath: match.path, routeKey: `${method} ${match.path}`, pathParameters }, context);
};
