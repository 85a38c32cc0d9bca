// The routes and shapes of the API come from the service's route manifest and the zod schemas it names: only types
// are imported from there (nothing of zod is bundled), and the compiler holds each method and path to the manifest.
import type { z } from 'zod';
import type { Routes } from '../../lib/http/routes';
import type { ListTasksQuerySchema, ProblemSchema } from '../../lib/tasks/schemas';
import type { TaskStatus } from './types';

type RouteName = keyof Routes;
/** The input of a part of a route's request (params, query, body): what its zod schema accepts. */
type Input<N extends RouteName, K extends string> = Routes[N] extends { request: { [P in K]: infer S extends z.ZodType } }
  ? z.input<S>
  : undefined;
type JsonSchemaOf<R> = R extends { content: { 'application/json': { schema: infer S extends z.ZodType } } } ? S : never;
/** What a route answers when it succeeds (its 200, else its 201): the output of the zod schema. */
type Answer<N extends RouteName> = Routes[N] extends { responses: infer R }
  ? z.output<R extends { 200: infer A } ? JsonSchemaOf<A> : R extends { 201: infer A } ? JsonSchemaOf<A> : never>
  : never;

/** A field of a 422 problem. */
type FieldError = NonNullable<z.output<typeof ProblemSchema>['errors']>[number];

const KEY_STORAGE = 'task-service.api-key';

/** A problem+json answer (or a network failure, status 0) from the API. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly errors: FieldError[] = [],
  ) {
    super(message);
  }
}

export const apiKey = {
  get: (): string => localStorage.getItem(KEY_STORAGE) ?? '',
  set: (key: string) => (key ? localStorage.setItem(KEY_STORAGE, key) : localStorage.removeItem(KEY_STORAGE)),
};

type Listener = () => void;
const unauthorizedListeners = new Set<Listener>();

/**
 * Whether the service answers what the page reads: failing while the latest call of any read route failed (a 5xx
 * or no answer; a 4xx is an answer). Kept per route, so that one failing route among working ones does not make the
 * badge flicker with every poll. A failed create, cancel or retry is reported where it was asked for.
 */
export interface ApiHealth {
  ok: boolean;
  /** 0 when the service did not answer, else the HTTP status of a failed call. */
  status?: number;
  message?: string;
}
const failing = new Map<string, { status: number; message: string }>();
let health: ApiHealth = { ok: true };
const healthListeners = new Set<(h: ApiHealth) => void>();
function recordOutcome(route: string, failure: { status: number; message: string } | undefined): void {
  if (failure) failing.set(route, failure);
  else failing.delete(route);
  // No answer at all says more than a 5xx: it is the one shown.
  const worst = [...failing.values()].sort((a, b) => a.status - b.status)[0];
  const next: ApiHealth = worst ? { ok: false, ...worst } : { ok: true };
  if (next.ok === health.ok && next.status === health.status && next.message === health.message) return;
  health = next;
  for (const l of healthListeners) l(health);
}
export const apiHealth = {
  get: (): ApiHealth => health,
  /** Calls `listener` on every change of the health; returns the unsubscribe. */
  subscribe(listener: (h: ApiHealth) => void): () => void {
    healthListeners.add(listener);
    return () => healthListeners.delete(listener);
  },
};

/** Called whenever the API answers 401: the page then asks for a key. */
export function onUnauthorized(listener: Listener): () => void {
  unauthorizedListeners.add(listener);
  return () => unauthorizedListeners.delete(listener);
}

/** The routes the dashboard calls, as the manifest spells them (a method or path that differs does not compile). */
const ROUTE_PATHS = {
  listTasks: ['GET', '/api/v1/tasks'],
  getTask: ['GET', '/api/v1/tasks/{id}'],
  getTaskEvents: ['GET', '/api/v1/tasks/{id}/events'],
  createTask: ['POST', '/api/v1/tasks'],
  cancelTask: ['DELETE', '/api/v1/tasks/{id}'],
  retryTask: ['POST', '/api/v1/tasks/{id}/retry'],
  bulkAction: ['POST', '/api/v1/tasks/bulk'],
  getStats: ['GET', '/api/v1/stats'],
  listTaskTypes: ['GET', '/api/v1/task-types'],
  updateTaskType: ['PATCH', '/api/v1/task-types/{name}'],
  getTaskCallbacks: ['GET', '/api/v1/tasks/{id}/callbacks'],
  listSchedules: ['GET', '/api/v1/schedules'],
  createSchedule: ['POST', '/api/v1/schedules'],
  updateSchedule: ['PATCH', '/api/v1/schedules/{id}'],
  deleteSchedule: ['DELETE', '/api/v1/schedules/{id}'],
  triggerSchedule: ['POST', '/api/v1/schedules/{id}/trigger'],
  listDeadLetters: ['GET', '/api/v1/dead-letters'],
  redriveDeadLetter: ['POST', '/api/v1/dead-letters/{id}/redrive'],
  redriveDeadLetters: ['POST', '/api/v1/dead-letters/redrive'],
  deleteDeadLetter: ['DELETE', '/api/v1/dead-letters/{id}'],
} as const satisfies { [N in RouteName]?: readonly [Routes[N]['method'], Routes[N]['path']] };
type Called = keyof typeof ROUTE_PATHS;

interface CallInput<N extends Called> {
  params?: Input<N, 'params'>;
  /** As the page's address gives the list's filters: the API answers 422 for values it does not take. */
  query?: URLSearchParams;
  body?: Input<N, 'body'>;
}

/** Calls a route of the manifest: path parameters filled in, the body sent as JSON, a problem thrown as ApiError. */
function call<N extends Called>(name: N, input: CallInput<N> = {}): Promise<Answer<N>> {
  const [method, template] = ROUTE_PATHS[name];
  const params = (input.params ?? {}) as Record<string, string>;
  const path = template.replace(/\{(\w+)\}/g, (_, key: string) => encodeURIComponent(params[key] ?? ''));
  const sent = send<Answer<N>>(method, input.query ? `${path}?${input.query}` : path, input.body);
  if (method !== 'GET') return sent;
  return sent.then(
    (answer) => {
      recordOutcome(name, undefined);
      return answer;
    },
    (err: unknown) => {
      const failed = err instanceof ApiError && (err.status === 0 || err.status >= 500);
      recordOutcome(
        name,
        failed
          ? { status: err.status, message: err.status ? `The service answered ${err.status}: ${err.message}` : err.message }
          : undefined,
      );
      throw err;
    },
  );
}

async function send<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  const key = apiKey.get();
  if (key) headers['x-api-key'] = key;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError(0, 'The service did not answer; is it running?');
  }
  const text = await res.text();
  const data = text ? safeJson(text) : undefined;
  if (!res.ok) {
    if (res.status === 401) for (const l of unauthorizedListeners) l();
    const problem = (data ?? {}) as Partial<z.output<typeof ProblemSchema>>;
    throw new ApiError(res.status, problem.detail ?? problem.title ?? `HTTP ${res.status}`, problem.errors ?? []);
  }
  return data as T;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The list's filters: the query parameters of GET /api/v1/tasks but paging, the statuses as a list. */
export type TaskFilters = {
  [K in Exclude<keyof z.input<typeof ListTasksQuerySchema>, 'limit' | 'offset'>]?: K extends 'status' ? TaskStatus[] : string;
};

/** A page of the list; without large payloads and results (`payload_omitted`, `result_omitted`): `get` has the whole task. */
export type TaskPage = Answer<'listTasks'>;

/** The body of a create: what CreateTaskSchema accepts. */
export type NewTask = Input<'createTask', 'body'>;

/** The body of a schedule's create, and of its change. */
export type NewSchedule = Input<'createSchedule', 'body'>;
export type ScheduleChange = Input<'updateSchedule', 'body'>;
export type DeadLetterQueue = NonNullable<Input<'redriveDeadLetters', 'body'>>['queue'];
export type RedriveManyResult = Answer<'redriveDeadLetters'>;

export const api = {
  list(filters: TaskFilters, limit: number, offset: number): Promise<TaskPage> {
    const query = new URLSearchParams();
    if (filters.status?.length) query.set('status', filters.status.join(','));
    for (const k of ['priority', 'type', 'search', 'created_from', 'created_to'] as const) {
      const v = filters[k];
      if (v) query.set(k, v);
    }
    query.set('limit', String(limit));
    query.set('offset', String(offset));
    return call('listTasks', { query });
  },
  get: (id: string) => call('getTask', { params: { id } }),
  events: (id: string) => call('getTaskEvents', { params: { id } }),
  create: (task: NewTask) => call('createTask', { body: task }),
  cancel: (id: string) => call('cancelTask', { params: { id } }),
  retry: (id: string) => call('retryTask', { params: { id } }),
  bulk: (action: Input<'bulkAction', 'body'>['action'], ids: string[]) => call('bulkAction', { body: { action, ids } }),
  stats: () => call('getStats'),
  taskTypes: () => call('listTaskTypes'),
  updateTaskType: (name: string, body: Input<'updateTaskType', 'body'>) => call('updateTaskType', { params: { name }, body }),
  callbacks: (id: string) => call('getTaskCallbacks', { params: { id } }),
  schedules: () => call('listSchedules', { query: new URLSearchParams({ limit: '100' }) }),
  createSchedule: (body: NewSchedule) => call('createSchedule', { body }),
  updateSchedule: (id: string, body: ScheduleChange) => call('updateSchedule', { params: { id }, body }),
  deleteSchedule: (id: string) => call('deleteSchedule', { params: { id } }),
  triggerSchedule: (id: string) => call('triggerSchedule', { params: { id } }),
  deadLetters: (queue: DeadLetterQueue | '') => {
    const query = new URLSearchParams({ limit: '100' });
    if (queue) query.set('queue', queue);
    return call('listDeadLetters', { query });
  },
  redriveDeadLetter: (id: string) => call('redriveDeadLetter', { params: { id } }),
  redriveDeadLetters: (queue: DeadLetterQueue, ids: string[]) => call('redriveDeadLetters', { body: { queue, ids } }),
  deleteDeadLetter: (id: string) => call('deleteDeadLetter', { params: { id } }),
};
