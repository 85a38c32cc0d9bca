import { OpenAPIRegistry, OpenApiGeneratorV31 } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import {
  BulkActionResultSchema,
  BulkActionSchema,
  CreateTaskSchema,
  HealthSchema,
  IntakeMessageSchema,
  ListTasksQuerySchema,
  ProblemSchema,
  StatsSchema,
  TaskEventListSchema,
  TaskIdParamsSchema,
  TaskListSchema,
  TaskMessageSchema,
  TaskSchema,
  TaskStatusResponseSchema,
  TaskTypeListSchema,
  UpdateTaskSchema,
} from '#lib/tasks/schemas';
import { TASK_TYPES } from '#lib/tasks/types/index';

const problem = (description: string) => ({
  description,
  content: { 'application/problem+json': { schema: ProblemSchema } },
});
const json = (schema: z.ZodType, description: string) => ({ description, content: { 'application/json': { schema } } });

const E400 = { 400: problem('The body is not JSON') };
const E404 = { 404: problem('Task not found') };
const E409 = { 409: problem("The task's status does not allow the operation") };
const E413 = { 413: problem('The body is over 256 KiB') };
const E415 = { 415: problem('The body is not JSON (content type)') };
const E422 = { 422: problem('The request parses but is not valid; `errors` lists the failing fields') };
const E503 = {
  503: problem(
    'The database is unreachable (Retry-After: 5), or the service is busy: every database connection stayed taken (Retry-After: 1)',
  ),
};

const idOf = (schema: z.ZodType, fallback: string): string => (z.globalRegistry.get(schema)?.id as string | undefined) ?? fallback;

function build() {
  const registry = new OpenAPIRegistry();
  // Schemas no route refers to (queue messages, task type payloads) are listed as components too.
  // An empty metadata registry inlines nested schemas instead of writing `$defs` refs that would dangle here.
  const component = (schema: z.ZodType, fallback: string) => {
    const { $schema: _, ...jsonSchema } = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any', metadata: z.registry() });
    registry.registerComponent(
      'schemas',
      idOf(schema, fallback),
      jsonSchema as Parameters<typeof registry.registerComponent<'schemas'>>[2],
    );
  };
  component(TaskMessageSchema, 'TaskMessage');
  component(IntakeMessageSchema, 'TaskIntakeMessage');
  for (const t of Object.values(TASK_TYPES)) component(t.payload, `${t.name}Payload`);

  registry.registerComponent('securitySchemes', 'ApiKey', {
    type: 'apiKey',
    in: 'header',
    name: 'x-api-key',
    description: 'Required on every route but /health, /docs, /openapi.json and /dashboard when the service has API_KEYS set',
  });
  // `{}` first: the key is optional unless the service is configured with API_KEYS.
  const security: Array<Record<string, string[]>> = [{}, { ApiKey: [] }];
  const E401 = { 401: problem('API_KEYS is set and the x-api-key header is missing or wrong') };
  const registerPath = (route: Parameters<typeof registry.registerPath>[0]): void =>
    registry.registerPath({ security, ...route, responses: { ...route.responses, ...E401 } });

  const id = { params: TaskIdParamsSchema };
  const base = '/api/v1/tasks';
  const idempotencyKey = z.object({
    'idempotency-key': z.string().min(1).max(255).optional().meta({
      description: 'A repeat with the same key and body within 24 hours returns the first task (200) and creates nothing',
    }),
  });

  registerPath({
    method: 'post',
    path: base,
    summary: 'Create a task',
    description: `Stores the task and queues it. Task types: ${Object.values(TASK_TYPES)
      .map((t) => `\`${t.name}\` (${t.description})`)
      .join('; ')}.`,
    tags: ['tasks'],
    request: { headers: idempotencyKey, body: { content: { 'application/json': { schema: CreateTaskSchema } }, required: true } },
    responses: {
      201: {
        ...json(TaskSchema, 'Created: PENDING when queued, NEW when the queue was unreachable'),
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
  });
  registerPath({
    method: 'get',
    path: base,
    summary: 'List tasks, newest first',
    tags: ['tasks'],
    request: { query: ListTasksQuerySchema },
    responses: { 200: json(TaskListSchema, 'A page of tasks'), ...E422, ...E503 },
  });
  registerPath({
    method: 'get',
    path: `${base}/{id}`,
    summary: 'Get a task',
    tags: ['tasks'],
    request: id,
    responses: { 200: json(TaskSchema, 'The task'), ...E404, ...E422, ...E503 },
  });
  registerPath({
    method: 'patch',
    path: `${base}/{id}`,
    summary: 'Change a waiting task',
    description:
      'Changes title, description, priority or payload while the task is NEW or PENDING; a new priority takes effect in the queue.',
    tags: ['tasks'],
    request: { ...id, body: { content: { 'application/json': { schema: UpdateTaskSchema } }, required: true } },
    responses: { 200: json(TaskSchema, 'The changed task'), ...E400, ...E404, ...E409, ...E413, ...E415, ...E422, ...E503 },
  });
  registerPath({
    method: 'delete',
    path: `${base}/{id}`,
    summary: 'Cancel a task',
    description: 'Cancels a NEW, PENDING or IN_PROGRESS task; a running task is told to stop.',
    tags: ['tasks'],
    request: id,
    responses: { 200: json(TaskSchema, 'The cancelled task'), ...E404, ...E409, ...E422, ...E503 },
  });
  registerPath({
    method: 'get',
    path: `${base}/{id}/status`,
    summary: 'Get the status of a task',
    tags: ['tasks'],
    request: id,
    responses: { 200: json(TaskStatusResponseSchema, 'The status'), ...E404, ...E422, ...E503 },
  });
  registerPath({
    method: 'get',
    path: `${base}/{id}/events`,
    summary: 'Status history of a task, oldest first',
    tags: ['tasks'],
    request: id,
    responses: { 200: json(TaskEventListSchema, 'The events'), ...E404, ...E422, ...E503 },
  });
  registerPath({
    method: 'post',
    path: `${base}/{id}/retry`,
    summary: 'Run a failed or cancelled task again',
    tags: ['tasks'],
    request: id,
    responses: { 200: json(TaskSchema, 'The task, PENDING (NEW if the queue is down)'), ...E404, ...E409, ...E422, ...E503 },
  });
  registerPath({
    method: 'post',
    path: `${base}/bulk`,
    summary: 'Cancel or retry many tasks at once',
    description:
      'Acts on each task as `DELETE /api/v1/tasks/{id}` or `POST /api/v1/tasks/{id}/retry` would, and answers 200 with one result per task: its status code (200, 404, 409) and the task or the reason it was refused.',
    tags: ['tasks'],
    request: { body: { content: { 'application/json': { schema: BulkActionSchema } }, required: true } },
    responses: { 200: json(BulkActionResultSchema, 'One result per task'), ...E400, ...E413, ...E415, ...E422, ...E503 },
  });
  registerPath({
    method: 'get',
    path: '/api/v1/task-types',
    summary: 'Registered task types and the JSON Schema of their payloads',
    tags: ['tasks'],
    responses: { 200: json(TaskTypeListSchema, 'The task types') },
  });
  registerPath({
    method: 'get',
    path: '/api/v1/stats',
    summary: 'Counts by status and type, throughput over the last hour, queue depth',
    description:
      'Tasks by status and by type, tasks created and runs completed or failed in each of the last 60 minutes (zeros included), and the messages waiting in the tasks queue and its dead-letter queue (null when the queue does not answer within 1.5 s).',
    tags: ['service'],
    responses: { 200: json(StatsSchema, 'The numbers'), ...E503 },
  });
  registry.registerPath({
    method: 'get',
    path: '/health',
    summary: 'Health of the service and its dependencies',
    tags: ['service'],
    responses: { 200: json(HealthSchema, 'Everything answers'), 503: json(HealthSchema, 'A dependency is failing (named in checks)') },
  });

  return new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: '3.1.0',
    info: {
      title: 'Async Task Service',
      version: '1.0.0',
      description:
        'Create tasks over HTTP or through the `task_intake` queue; a processor runs them asynchronously. Errors are `application/problem+json` (RFC 9457).',
    },
    servers: [{ url: '/' }],
    tags: [{ name: 'tasks' }, { name: 'service' }],
  });
}

let cached: ReturnType<typeof build> | undefined;

/** The OpenAPI 3.1 document of the API, generated from the zod schemas. */
export function openApiDocument() {
  cached ??= build();
  return cached;
}
