import { OpenAPIRegistry, OpenApiGeneratorV31, type RouteConfig } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { API_KEY_RESPONSES, type DocumentedRoute, ROUTES, type RouteSpec } from '#lib/http/routes';
import { IntakeMessageSchema, TaskMessageSchema } from '#lib/tasks/schemas';
import { TASK_TYPES } from '#lib/tasks/types/index';

const idOf = (schema: z.ZodType, fallback: string): string => (z.globalRegistry.get(schema)?.id as string | undefined) ?? fallback;

const isDocumented = (route: RouteSpec): route is DocumentedRoute => !('undocumented' in route);

/** The OpenAPI operation of a route of the manifest. */
function operation(route: DocumentedRoute, security: RouteConfig['security']): RouteConfig {
  const { headers, body, query, params } = route.request ?? {};
  const request: RouteConfig['request'] = {
    ...(params && { params: params as z.ZodObject }),
    ...(query && { query: query as z.ZodObject }),
    ...(headers && { headers }),
    ...(body && { body: { content: { 'application/json': { schema: body } }, required: true } }),
  };
  const description =
    typeof route.description === 'function' ? route.description({ taskTypes: Object.values(TASK_TYPES) }) : route.description;
  return {
    ...(route.public ? {} : { security }),
    method: route.method.toLowerCase() as RouteConfig['method'],
    path: route.path,
    summary: route.summary,
    ...(description !== undefined && { description }),
    tags: [...route.tags],
    ...(Object.keys(request).length > 0 && { request }),
    responses: route.public ? { ...route.responses } : { ...route.responses, ...API_KEY_RESPONSES },
  };
}

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
  const security: RouteConfig['security'] = [{}, { ApiKey: [] }];

  // The documented routes of the manifest, in its order.
  for (const route of Object.values(ROUTES) as RouteSpec[]) {
    if (isDocumented(route)) registry.registerPath(operation(route, security));
  }

  return new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: '3.1.0',
    info: {
      title: 'Async Task Service',
      version: '1.0.0',
      description:
        'Create tasks over HTTP or through the `task_intake` queue; a processor runs them asynchronously. Errors are `application/problem+json` (RFC 9457).',
    },
    servers: [{ url: '/' }],
    tags: [{ name: 'tasks' }, { name: 'schedules' }, { name: 'service' }],
  });
}

let cached: ReturnType<typeof build> | undefined;

/** The OpenAPI 3.1 document of the API, generated from the route manifest and its zod schemas. */
export function openApiDocument() {
  cached ??= build();
  return cached;
}
