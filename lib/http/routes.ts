import type { ResponseConfig } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import {
  BulkActionResultSchema,
  BulkActionSchema,
  CallbackAttemptListSchema,
  CreateScheduleSchema,
  CreateTaskBatchSchema,
  CreateTaskSchema,
  DeadLetterIdParamsSchema,
  DeadLetterListSchema,
  DeadLetterSchema,
  HealthSchema,
  ListDeadLettersQuerySchema,
  ListSchedulesQuerySchema,
  ListTasksQuerySchema,
  ProblemSchema,
  RedriveDeadLettersSchema,
  RedriveManyResultSchema,
  RedriveResultSchema,
  ScheduleIdParamsSchema,
  ScheduleListSchema,
  ScheduleSchema,
  StatsSchema,
  TaskBatchSchema,
  TaskEventListSchema,
  TaskIdParamsSchema,
  TaskListSchema,
  TaskSchema,
  TaskStatusResponseSchema,
  TaskTypeListSchema,
  TaskTypeParamsSchema,
  TaskTypeSchema,
  UpdateScheduleSchema,
  UpdateTaskSchema,
  UpdateTaskTypeSchema,
  WaitQuerySchema,
} from '#lib/tasks/schemas';

// The ONE list of the HTTP routes. serverless.yml declares the same routes for API Gateway (a unit test holds the two
// together), the OpenAPI document is built from the documented ones (lib/http/openapi.ts), each handler takes its
// input schemas and whether it is public from here (lib/http/handler.ts), the catch-all hands `path/` to the route of
// `path` (functions/not-found.ts), and the dashboard's client is typed from it (dashboard/src/api.ts).

export type HttpMethod = 'GET' | 'POST' | 'PATCH' | 'DELETE';

/** What the OpenAPI document knows that the manifest does not spell out: the registered task types. */
export interface DocContext {
  taskTypes: ReadonlyArray<{ name: string; description: string }>;
}

/** The input of a route, validated by the middy stack in this order: body, query, path parameters. */
export interface RouteRequest {
  body?: z.ZodType;
  query?: z.ZodType;
  params?: z.ZodType;
  /** Documented only: headers are checked by the handler (idempotencyKeyOf), whose answers the contract fixes. */
  headers?: z.ZodObject;
}

interface RouteBase {
  method: HttpMethod;
  /** As API Gateway spells it: `{id}` is one segment, `{path+}` the rest of the path. */
  path: string;
  /** The serverless.yml function that answers the route. */
  function: string;
  summary: string;
  /** Open without an API key even when API_KEYS is set; any other route answers 401 without one. */
  public?: boolean;
  request?: RouteRequest;
  /** Answered at this path only: the catch-all does not hand `path/` to it. */
  exactPath?: boolean;
  /** Deployed on these stages only (serverless.yml picks the function by stage); on every stage when absent. */
  stages?: readonly string[];
}

/** A route of the OpenAPI document: its answers (401 is added to those of routes that are not public). */
export interface DocumentedRoute extends RouteBase {
  description?: string | ((context: DocContext) => string);
  tags: readonly string[];
  responses: Readonly<Record<number, ResponseConfig>>;
}

/** A route the OpenAPI document leaves out (the documentation itself, the dashboard, the benchmark's no-op). */
export interface UndocumentedRoute extends RouteBase {
  undocumented: true;
}

export type RouteSpec = DocumentedRoute | UndocumentedRoute;

// Each route is a constant of its own, gathered in ROUTES at the end, and nothing at the top level of this module
// has a side effect the bundler cannot see past (the helpers below are marked as free of side effects, the schemas
// of lib/tasks/schemas.ts as pure): a function's bundle keeps its own route and the schemas that route uses, not
// every route's, and does not build the others' schemas at every cold start (about a quarter of a read-only
// function's module load before).

/**
 * A route of the manifest. Built by a function, because the bundler counts an object literal with spreads
 * (`...E404`) as a possible side effect and would keep every route in every bundle; a call of this function it may
 * drop when nothing uses the result.
 */
/* @__NO_SIDE_EFFECTS__ */
const route = <const R extends RouteSpec>(build: () => R): R => build();

/* @__NO_SIDE_EFFECTS__ */
const problem = (description: string): ResponseConfig => ({
  description,
  content: { 'application/problem+json': { schema: ProblemSchema } },
});
// Generic, so that the manifest's type keeps each answer's schema (the dashboard's client is typed from it).
/* @__NO_SIDE_EFFECTS__ */
const json = <S extends z.ZodType>(schema: S, description: string) => ({ description, content: { 'application/json': { schema } } });

const E400 = { 400: problem('The body is not JSON') };
const E404 = { 404: problem('Task not found') };
const E409 = { 409: problem("The task's status does not allow the operation") };
const E413 = { 413: problem('The body is over 256 KiB') };
const E415 = { 415: problem('The body is not JSON (content type)') };
const E422 = { 422: problem('The request parses but is not valid; `errors` lists the failing fields') };
/** Added to the answers of every route that is not public. */
export const API_KEY_RESPONSES = { 401: problem('API_KEYS is set and the x-api-key header is missing or wrong') };
const E503 = {
  503: problem(
    'The database is unreachable (Retry-After: 5), or the service is busy: every database connection stayed taken (Retry-After: 1)',
  ),
};

const IdempotencyKeyHeaders = /* @__PURE__ */ z.object({
  'idempotency-key': z.string().min(1).max(255).optional().meta({
    description: 'A repeat with the same key and body within 24 hours returns the first task (200) and creates nothing',
  }),
});

const byId = { params: TaskIdParamsSchema };
const scheduleById = { params: ScheduleIdParamsSchema };
const S404 = { 404: problem('Schedule not found') };
const S422 = {
  422: problem('The request parses but is not valid (a bad cron expression or time zone among others); `errors` lists the failing fields'),
};
const SCHEDULE_TIMING =
  'Each due time of `cron` (five fields, read in `timezone`) creates exactly one task, carrying `schedule_id`, however many service instances run. ' +
  'Due times missed while no scheduler ran (an outage) make at most ONE catch-up run, then `next_run_at` moves to the first due time after now. ' +
  'Across daylight-saving changes: a time that the spring-forward skips runs at the first minute after the gap (`30 2 * * *` in Europe/Berlin runs at 03:00 that day), ' +
  'a time that the fall-back repeats runs once; an interval such as `*/30 * * * *` keeps counting in real time.';

export const createTask = route(() => ({
  method: 'POST',
  path: '/api/v1/tasks',
  function: 'tasksCreate',
  summary: 'Create a task',
  description: ({ taskTypes }: DocContext) =>
    `Stores the task and queues it; with \`run_at\` in the future (or \`delay_ms\` > 0) it is stored SCHEDULED and queued when due (it starts within about a second of that time when a slot is free). Task types: ${taskTypes.map((t) => `\`${t.name}\` (${t.description})`).join('; ')}.`,
  tags: ['tasks'],
  request: { headers: IdempotencyKeyHeaders, body: CreateTaskSchema },
  responses: {
    201: {
      ...json(TaskSchema, 'Created: PENDING when queued, NEW when the queue was unreachable, SCHEDULED when it starts later'),
      headers: { Location: { schema: { type: 'string' }, description: '/api/v1/tasks/{id}' } },
    },
    200: json(TaskSchema, 'A repeat of an earlier request with the same Idempotency-Key'),
    409: problem('Another request with the same Idempotency-Key is being handled; try again'),
    ...E400,
    ...E413,
    ...E415,
    ...E422,
    ...E503,
  },
}));

export const listTasks = route(() => ({
  method: 'GET',
  path: '/api/v1/tasks',
  function: 'tasksList',
  summary: 'List tasks, newest first',
  tags: ['tasks'],
  request: { query: ListTasksQuerySchema },
  responses: { 200: json(TaskListSchema, 'A page of tasks'), ...E422, ...E503 },
}));

export const getTask = route(() => ({
  method: 'GET',
  path: '/api/v1/tasks/{id}',
  function: 'tasksGet',
  summary: 'Get a task',
  description: 'With `?wait=N`, waits up to N seconds for the task to be COMPLETED, FAILED or CANCELLED.',
  tags: ['tasks'],
  request: { ...byId, query: WaitQuerySchema },
  responses: { 200: json(TaskSchema, 'The task (with wait: once terminal, or as it is after N seconds)'), ...E404, ...E422, ...E503 },
}));

export const updateTask = route(() => ({
  method: 'PATCH',
  path: '/api/v1/tasks/{id}',
  function: 'tasksUpdate',
  summary: 'Change a waiting task',
  description:
    'Changes title, description, priority or payload while the task is SCHEDULED, NEW or PENDING; a new priority takes effect in the queue. `run_at` or `delay_ms` (from now) moves the start of a SCHEDULED task (409 in any other status); a time that has come releases it within a fraction of a second.',
  tags: ['tasks'],
  request: { ...byId, body: UpdateTaskSchema },
  responses: { 200: json(TaskSchema, 'The changed task'), ...E400, ...E404, ...E409, ...E413, ...E415, ...E422, ...E503 },
}));

export const cancelTask = route(() => ({
  method: 'DELETE',
  path: '/api/v1/tasks/{id}',
  function: 'tasksCancel',
  summary: 'Cancel a task',
  description: 'Cancels a SCHEDULED, NEW, PENDING or IN_PROGRESS task; a running task is told to stop.',
  tags: ['tasks'],
  request: byId,
  responses: { 200: json(TaskSchema, 'The cancelled task'), ...E404, ...E409, ...E422, ...E503 },
}));

export const getTaskStatus = route(() => ({
  method: 'GET',
  path: '/api/v1/tasks/{id}/status',
  function: 'tasksStatus',
  summary: 'Get the status of a task',
  description: 'With `?wait=N`, waits up to N seconds for the task to be COMPLETED, FAILED or CANCELLED.',
  tags: ['tasks'],
  request: { ...byId, query: WaitQuerySchema },
  responses: {
    200: json(TaskStatusResponseSchema, 'The status (with wait: once terminal, or as it is after N seconds)'),
    ...E404,
    ...E422,
    ...E503,
  },
}));

export const getTaskEvents = route(() => ({
  method: 'GET',
  path: '/api/v1/tasks/{id}/events',
  function: 'tasksEvents',
  summary: 'Status history of a task, oldest first',
  tags: ['tasks'],
  request: byId,
  responses: { 200: json(TaskEventListSchema, 'The events'), ...E404, ...E422, ...E503 },
}));

export const getTaskCallbacks = route(() => ({
  method: 'GET',
  path: '/api/v1/tasks/{id}/callbacks',
  function: 'tasksCallbacks',
  summary: 'Callback attempts of a task, oldest first',
  description:
    "Each attempt to POST the task to its `callback_url`: when, the answer's status (null when none came) and why it failed. A delivery (one per end of the task, its `X-Delivery-Id`) is tried again after 10 s, 30 s, 1 min, 5 min, 15 min, 30 min, then every hour, for 24 hours.",
  tags: ['tasks'],
  request: byId,
  responses: { 200: json(CallbackAttemptListSchema, 'The attempts'), ...E404, ...E422, ...E503 },
}));

export const retryTask = route(() => ({
  method: 'POST',
  path: '/api/v1/tasks/{id}/retry',
  function: 'tasksRetry',
  summary: 'Run a failed or cancelled task again',
  tags: ['tasks'],
  request: byId,
  responses: { 200: json(TaskSchema, 'The task, PENDING (NEW if the queue is down)'), ...E404, ...E409, ...E422, ...E503 },
}));

export const bulkAction = route(() => ({
  method: 'POST',
  path: '/api/v1/tasks/bulk',
  function: 'tasksBulk',
  summary: 'Cancel or retry many tasks at once',
  description:
    'Acts on each task as `DELETE /api/v1/tasks/{id}` or `POST /api/v1/tasks/{id}/retry` would, and answers 200 with one result per task: its status code (200, 404, 409) and the task or the reason it was refused.',
  tags: ['tasks'],
  request: { body: BulkActionSchema },
  responses: { 200: json(BulkActionResultSchema, 'One result per task'), ...E400, ...E413, ...E415, ...E422, ...E503 },
}));

export const createSchedule = route(() => ({
  method: 'POST',
  path: '/api/v1/schedules',
  function: 'schedulesCreate',
  summary: 'Create a recurring schedule',
  description: `Stores the schedule; its first run is its first due time after now. Names are unique (409 on a duplicate). ${SCHEDULE_TIMING}`,
  tags: ['schedules'],
  request: { body: CreateScheduleSchema },
  responses: {
    201: {
      ...json(ScheduleSchema, 'Created'),
      headers: { Location: { schema: { type: 'string' }, description: '/api/v1/schedules/{id}' } },
    },
    409: problem('A schedule with this name exists already'),
    ...E400,
    ...E413,
    ...E415,
    ...S422,
    ...E503,
  },
}));

export const listSchedules = route(() => ({
  method: 'GET',
  path: '/api/v1/schedules',
  function: 'schedulesList',
  summary: 'List schedules, newest first',
  tags: ['schedules'],
  request: { query: ListSchedulesQuerySchema },
  responses: { 200: json(ScheduleListSchema, 'A page of schedules'), ...E422, ...E503 },
}));

export const getSchedule = route(() => ({
  method: 'GET',
  path: '/api/v1/schedules/{id}',
  function: 'schedulesGet',
  summary: 'Get a schedule',
  tags: ['schedules'],
  request: scheduleById,
  responses: { 200: json(ScheduleSchema, 'The schedule'), ...S404, ...E422, ...E503 },
}));

export const updateSchedule = route(() => ({
  method: 'PATCH',
  path: '/api/v1/schedules/{id}',
  function: 'schedulesUpdate',
  summary: 'Change a schedule',
  description:
    'Changes any of name, cron, timezone, task (replaced whole) and enabled. A new cron or time zone, or enabling, counts the next due time from now (times missed while disabled are not caught up); disabling sets `next_run_at` to null.',
  tags: ['schedules'],
  request: { ...scheduleById, body: UpdateScheduleSchema },
  responses: {
    200: json(ScheduleSchema, 'The changed schedule'),
    409: problem('Another schedule has this name'),
    ...E400,
    ...S404,
    ...E413,
    ...E415,
    ...S422,
    ...E503,
  },
}));

export const deleteSchedule = route(() => ({
  method: 'DELETE',
  path: '/api/v1/schedules/{id}',
  function: 'schedulesDelete',
  summary: 'Delete a schedule',
  description: 'The tasks it created stay; their `schedule_id` becomes null.',
  tags: ['schedules'],
  request: scheduleById,
  responses: { 204: { description: 'Deleted' }, ...S404, ...E422, ...E503 },
}));

export const triggerSchedule = route(() => ({
  method: 'POST',
  path: '/api/v1/schedules/{id}/trigger',
  function: 'schedulesTrigger',
  summary: 'Run a schedule once now',
  description: "Creates one task from the schedule's task body now, also when the schedule is disabled; its next due time stays as it was.",
  tags: ['schedules'],
  request: scheduleById,
  responses: {
    201: {
      ...json(TaskSchema, 'The task created: PENDING when queued, NEW when the queue was unreachable'),
      headers: { Location: { schema: { type: 'string' }, description: '/api/v1/tasks/{id}' } },
    },
    409: problem("The schedule's stored task no longer fits its task type (the type went away or changed)"),
    ...S404,
    ...E422,
    ...E503,
  },
}));

export const createTaskBatch = route(() => ({
  method: 'POST',
  path: '/api/v1/tasks/batch',
  function: 'tasksBatch',
  summary: 'Create many tasks at once',
  description:
    'Creates 1 to 100 tasks, all or nothing, in one transaction, and queues them in one publish; each item is a create body (as `POST /api/v1/tasks`) with an optional `idempotency_key`. An item whose key was used within 24 hours with the same body gives the task it created then (the answer is still 201) and creates nothing; the same key with a different body fails the batch (422 on `tasks.<i>.idempotency_key`). Errors name the item: `tasks.3.title`. The whole body is at most 256 KiB.',
  tags: ['tasks'],
  request: { body: CreateTaskBatchSchema },
  responses: {
    201: json(TaskBatchSchema, 'The tasks, in the order given: created ones, and earlier ones for repeated idempotency keys'),
    409: problem('Another request with one of the idempotency keys is being handled; try again'),
    ...E400,
    ...E413,
    ...E415,
    ...E422,
    ...E503,
  },
}));

export const listDeadLetters = route(() => ({
  method: 'GET',
  path: '/api/v1/dead-letters',
  function: 'deadLettersList',
  summary: 'List dead letters, newest first',
  description:
    'Messages that will never be handled as they are, with the reason: invalid messages, final failures of tasks, and messages the queue itself gave up on after too many deliveries. The same on every queue driver.',
  tags: ['dead-letters'],
  request: { query: ListDeadLettersQuerySchema },
  responses: { 200: json(DeadLetterListSchema, 'A page of dead letters'), ...E422, ...E503 },
}));

export const redriveDeadLetters = route(() => ({
  method: 'POST',
  path: '/api/v1/dead-letters/redrive',
  function: 'deadLettersRedriveMany',
  summary: 'Redrive many dead letters of one queue',
  description:
    'Redrives each dead letter as `POST /api/v1/dead-letters/{id}/redrive` would (the given ones, or the oldest 100 of the queue) and answers 200 with one result per dead letter.',
  tags: ['dead-letters'],
  request: { body: RedriveDeadLettersSchema },
  responses: { 200: json(RedriveManyResultSchema, 'One result per dead letter'), ...E400, ...E413, ...E415, ...E422, ...E503 },
}));

export const redriveDeadLetter = route(() => ({
  method: 'POST',
  path: '/api/v1/dead-letters/{id}/redrive',
  function: 'deadLettersRedrive',
  summary: 'Redrive a dead letter',
  description:
    'Removes the dead letter and hands its message back. `tasks`: a FAILED or CANCELLED task goes back to PENDING with a fresh attempt budget (as POST /api/v1/tasks/{id}/retry), a PENDING task gets a new message, a task still on its way (NEW, IN_PROGRESS) is left as it is; 409 (the dead letter stays) when the task has COMPLETED, no longer exists, or the message names none. `task_intake`: the message is published again (a still invalid one comes back as a new dead letter).',
  tags: ['dead-letters'],
  request: { params: DeadLetterIdParamsSchema },
  responses: {
    200: json(RedriveResultSchema, 'Redriven'),
    404: problem('Dead letter not found'),
    409: problem('The task of the dead letter cannot run again; discard it'),
    ...E422,
    503: problem('The database or the queue is unreachable, or the service is busy'),
  },
}));

export const deleteDeadLetter = route(() => ({
  method: 'DELETE',
  path: '/api/v1/dead-letters/{id}',
  function: 'deadLettersDelete',
  summary: 'Discard a dead letter',
  tags: ['dead-letters'],
  request: { params: DeadLetterIdParamsSchema },
  responses: { 200: json(DeadLetterSchema, 'The discarded dead letter'), 404: problem('Dead letter not found'), ...E422, ...E503 },
}));

export const listTaskTypes = route(() => ({
  method: 'GET',
  path: '/api/v1/task-types',
  function: 'taskTypes',
  summary: 'Registered task types, the JSON Schema of their payloads, and their run-time settings',
  tags: ['tasks'],
  responses: { 200: json(TaskTypeListSchema, 'The task types'), ...E503 },
}));

export const updateTaskType = route(() => ({
  method: 'PATCH',
  path: '/api/v1/task-types/{name}',
  function: 'taskTypesUpdate',
  summary: 'Pause, resume or limit a task type',
  description:
    'While a type is paused no run of it starts: its tasks wait in PENDING (their messages are taken and kept back), and are queued again when it is resumed. `concurrency` caps the runs of the type in progress at once across every process and instance; a task over the cap waits in PENDING until a run of its type ends. A cap set while runs are starting applies from the next start; runs already going are not stopped.',
  tags: ['tasks'],
  request: { params: TaskTypeParamsSchema, body: UpdateTaskTypeSchema },
  responses: {
    200: json(TaskTypeSchema, 'The task type with its new settings'),
    404: problem('Task type not found'),
    ...E400,
    ...E415,
    ...E422,
    ...E503,
  },
}));

export const getStats = route(() => ({
  method: 'GET',
  path: '/api/v1/stats',
  function: 'stats',
  summary: 'Counts by status and type, throughput over the last hour, queue depth',
  description:
    'Tasks by status and by type, tasks created and runs completed or failed in each of the last 60 minutes (zeros included), the messages waiting in the tasks queue (null when the queue does not answer within 1.5 s) and the dead letters recorded.',
  tags: ['service'],
  responses: { 200: json(StatsSchema, 'The numbers'), ...E503 },
}));

export const metrics = route(() => ({
  method: 'GET',
  path: '/metrics',
  function: 'metrics',
  exactPath: true,
  summary: 'Metrics in the Prometheus text format',
  description:
    'Tasks created and finished by type and status, run times of attempts and HTTP request latencies (histograms), HTTP requests by route and status, and, read at each scrape, tasks by status and the depth and dead letters of each queue. Counters and histograms are those of the process that answers: locally every function runs in one process. Deployed stages answer the gauges only: their counters and histograms are CloudWatch metrics, under the same names.',
  tags: ['service'],
  responses: { 200: { description: 'The metrics', content: { 'text/plain': { schema: z.string() } } }, ...E503 },
}));

export const health = route(() => ({
  method: 'GET',
  path: '/health',
  function: 'health',
  public: true,
  summary: 'Health of the service and its dependencies',
  tags: ['service'],
  responses: { 200: json(HealthSchema, 'Everything answers'), 503: json(HealthSchema, 'A dependency is failing (named in checks)') },
}));

export const openapi = route(() => ({
  method: 'GET',
  path: '/openapi.json',
  function: 'openapi',
  public: true,
  exactPath: true,
  undocumented: true,
  summary: 'This OpenAPI document',
}));

export const docs = route(() => ({
  method: 'GET',
  path: '/docs',
  function: 'docs',
  public: true,
  undocumented: true,
  summary: 'Swagger UI',
}));

export const docsAsset = route(() => ({
  method: 'GET',
  path: '/docs/{asset}',
  function: 'docs',
  public: true,
  exactPath: true,
  undocumented: true,
  summary: "Swagger UI's script and style sheet",
}));

export const dashboard = route(() => ({
  method: 'GET',
  path: '/dashboard',
  function: 'dashboard',
  public: true,
  undocumented: true,
  summary: 'The dashboard',
}));

export const dashboardPath = route(() => ({
  method: 'GET',
  path: '/dashboard/{path+}',
  function: 'dashboard',
  public: true,
  exactPath: true,
  undocumented: true,
  summary: "The dashboard's files, and its page for the routes of the page",
}));

export const benchPing = route(() => ({
  method: 'POST',
  path: '/bench/ping',
  function: 'ping',
  public: true,
  exactPath: true,
  stages: ['local'],
  undocumented: true,
  summary: "The benchmark's no-op: what the HTTP gateway itself costs per request",
}));

/** Every HTTP route, by name; the documented ones in the order of the OpenAPI document. */
export const ROUTES = {
  createTask,
  listTasks,
  getTask,
  updateTask,
  cancelTask,
  getTaskStatus,
  getTaskEvents,
  getTaskCallbacks,
  retryTask,
  bulkAction,
  createSchedule,
  listSchedules,
  getSchedule,
  updateSchedule,
  deleteSchedule,
  triggerSchedule,
  createTaskBatch,
  listDeadLetters,
  redriveDeadLetters,
  redriveDeadLetter,
  deleteDeadLetter,
  listTaskTypes,
  updateTaskType,
  getStats,
  metrics,
  health,
  openapi,
  docs,
  docsAsset,
  dashboard,
  dashboardPath,
  benchPing,
} as const satisfies Record<string, RouteSpec>;

export type Routes = typeof ROUTES;
export type RouteName = keyof Routes;
/** The serverless.yml functions that answer the routes. */
export type RouteFunction = Routes[RouteName]['function'];

/** The catch-all route (`httpApi: '*'` in serverless.yml): 404, or the route of `path` for `path/`; public. */
export const CATCH_ALL = { function: 'notFound', public: true } as const;

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** `/api/v1/tasks/{id}` as a pattern with a named group per parameter (`{path+}` takes the rest of the path). */
function pathPattern(path: string): RegExp {
  const source = path
    .split(/(\{\w+\+?\})/)
    .map((part) => {
      const param = /^\{(\w+)(\+?)\}$/.exec(part);
      if (!param) return escapeRegExp(part);
      return param[2] ? `(?<${param[1]}>.+)` : `(?<${param[1]}>[^/]+)`;
    })
    .join('');
  return new RegExp(`^${source}$`);
}

let patterns: Array<{ name: RouteName; route: RouteSpec; pattern: RegExp; params: number }> | undefined;

/**
 * The route of a request, as API Gateway would pick it: the method and path match, and of several matches the one
 * with the fewest parameters. Path parameters are the segments as they came (not URL-decoded).
 */
export function matchRoute(
  method: string,
  path: string,
): { name: RouteName; route: RouteSpec; pathParameters: Record<string, string> | undefined } | undefined {
  patterns ??= (Object.entries(ROUTES) as Array<[RouteName, RouteSpec]>).map(([name, route]) => ({
    name,
    route,
    pattern: pathPattern(route.path),
    params: route.path.split('{').length - 1,
  }));
  let best: { name: RouteName; route: RouteSpec; groups: Record<string, string> | undefined; params: number } | undefined;
  for (const p of patterns) {
    if (p.route.method !== method) continue;
    const m = p.pattern.exec(path);
    if (m && (!best || p.params < best.params)) best = { name: p.name, route: p.route, groups: m.groups, params: p.params };
  }
  return best && { name: best.name, route: best.route, pathParameters: best.groups ? { ...best.groups } : undefined };
}

/**
 * For a path that ends with a slash (which API Gateway matches with no route, so the catch-all gets it): the route of
 * the path without it, unless that route is answered at its exact path only.
 */
export function matchTrailingSlash(
  method: string,
  rawPath: string,
): { function: RouteFunction; path: string; pathParameters: Record<string, string> | undefined } | undefined {
  if (!rawPath.endsWith('/') || rawPath === '/') return undefined;
  const path = rawPath.replace(/\/+$/, '');
  const match = matchRoute(method, path);
  if (!match || match.route.exactPath) return undefined;
  return { function: match.route.function as RouteFunction, path, pathParameters: match.pathParameters };
}
