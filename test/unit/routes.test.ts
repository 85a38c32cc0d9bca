import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { CATCH_ALL, matchRoute, matchTrailingSlash, ROUTES, type RouteSpec } from '#lib/http/routes';

type FunctionDef = { handler: string; events?: Array<Record<string, unknown>> };

// CloudFormation's short forms, as plain values: only the functions and their events matter here.
const customTags = [
  { tag: '!Ref', resolve: (s: string) => ({ Ref: s }) },
  { tag: '!GetAtt', resolve: (s: string) => ({ 'Fn::GetAtt': s.split('.') }) },
  ...['If', 'Not', 'Equals'].map((fn) => ({
    tag: `!${fn}`,
    collection: 'seq' as const,
    resolve: (seq: unknown) => ({ [`Fn::${fn}`]: seq }),
  })),
];
const sls = parse(readFileSync('serverless.yml', 'utf8'), { customTags }) as {
  functions: Record<string, FunctionDef | string>;
  custom: Record<string, unknown>;
};

// A function defined by stage (`ping: ${self:custom.benchPing.${sls:stage}, null}`): there on the stages listed only.
const BY_STAGE = /^\$\{self:custom\.(\w+)\.\$\{sls:stage\}, null\}$/;

/** Every HTTP route of serverless.yml, as `METHOD /path`, with its function and the stages it is deployed on. */
function slsRoutes(): Array<{ key: string; function: string; stages: string[] | undefined }> {
  const routes = [];
  for (const [name, value] of Object.entries(sls.functions)) {
    const defs: Array<{ def: FunctionDef; stages: string[] | undefined }> = [];
    if (typeof value === 'string') {
      const custom = BY_STAGE.exec(value);
      expect(custom, `function ${name}: ${value}`).not.toBeNull();
      const byStage = sls.custom[custom?.[1] as string] as Record<string, FunctionDef>;
      for (const [stage, def] of Object.entries(byStage)) defs.push({ def, stages: [stage] });
    } else {
      defs.push({ def: value, stages: undefined });
    }
    for (const { def, stages } of defs) {
      for (const event of def.events ?? []) {
        const http = event.httpApi as { method: string; path: string } | string | undefined;
        if (http === undefined) continue;
        const key = typeof http === 'string' ? http : `${http.method} ${http.path}`;
        routes.push({ key, function: name, stages });
      }
    }
  }
  return routes;
}

const manifest = Object.entries(ROUTES as Record<string, RouteSpec>).map(([name, r]) => ({
  name,
  key: `${r.method} ${r.path}`,
  function: r.function,
  stages: r.stages ? [...r.stages] : undefined,
}));

describe('the route manifest and serverless.yml', () => {
  const declared = slsRoutes();

  it('declares every route of the manifest, for the same function and on the same stages', () => {
    for (const route of manifest) {
      expect(declared, route.name).toContainEqual({ key: route.key, function: route.function, stages: route.stages });
    }
  });

  it('has every HTTP route of serverless.yml but the catch-all in the manifest', () => {
    const known = new Set(manifest.map((r) => r.key));
    const others = declared.filter((r) => !known.has(r.key));
    expect(others).toEqual([{ key: '*', function: CATCH_ALL.function, stages: undefined }]);
  });

  it('declares each route once', () => {
    expect(new Set(declared.map((r) => r.key)).size).toBe(declared.length);
    expect(new Set(manifest.map((r) => r.key)).size).toBe(manifest.length);
  });

  it("points each route's function at a handler module in functions/", () => {
    for (const name of new Set([...manifest.map((r) => r.function), CATCH_ALL.function])) {
      const value = sls.functions[name];
      const defs =
        typeof value === 'string'
          ? Object.values(sls.custom[BY_STAGE.exec(value)?.[1] as string] as Record<string, FunctionDef>)
          : [value as FunctionDef];
      for (const def of defs) {
        const file = /^(functions\/[\w-]+)\.handler$/.exec(def.handler)?.[1];
        expect(file && existsSync(`${file}.ts`), `${name}: ${def.handler}`).toBe(true);
      }
    }
  });
});

describe('matching a request to a route of the manifest', () => {
  it('finds every route at its own path, with its path parameters', () => {
    for (const [name, route] of Object.entries(ROUTES as Record<string, RouteSpec>)) {
      const path = route.path.replace('{id}', 'abc').replace('{asset}', 'swagger-ui.css').replace('{path+}', 'tasks/abc');
      expect(matchRoute(route.method, path)?.name, name).toBe(name);
    }
    expect(matchRoute('GET', '/api/v1/tasks/abc/events')?.pathParameters).toEqual({ id: 'abc' });
    expect(matchRoute('GET', '/dashboard/tasks/abc')?.pathParameters).toEqual({ path: 'tasks/abc' });
  });

  it('prefers a literal segment to a parameter and needs the method', () => {
    expect(matchRoute('POST', '/api/v1/tasks/bulk')?.name).toBe('bulkAction');
    expect(matchRoute('GET', '/api/v1/tasks/bulk')?.name).toBe('getTask');
    expect(matchRoute('PUT', '/api/v1/tasks')).toBeUndefined();
    expect(matchRoute('GET', '/api/v1/tasks/a/b')).toBeUndefined();
  });

  it('hands path/ to the route of path, except routes answered at their exact path only', () => {
    expect(matchTrailingSlash('GET', '/api/v1/tasks/abc//')).toEqual({
      function: 'tasksGet',
      path: '/api/v1/tasks/abc',
      pathParameters: { id: 'abc' },
    });
    expect(matchTrailingSlash('GET', '/docs/')).toMatchObject({ function: 'docs', path: '/docs' });
    expect(matchTrailingSlash('GET', '/api/v1/tasks')).toBeUndefined();
    expect(matchTrailingSlash('GET', '/')).toBeUndefined();
    for (const path of ['/openapi.json/', '/docs/swagger-ui.css/', '/dashboard/tasks/', '/bench/ping/']) {
      expect(matchTrailingSlash(path === '/bench/ping/' ? 'POST' : 'GET', path), path).toBeUndefined();
    }
  });
});
