import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import Ajv from 'ajv';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseConfig } from '#lib/config';

// docker-compose.yml and the Dockerfile, checked without Docker: the file against the Compose Specification's JSON
// schema, and what the local stack relies on (health checks, the order of the start, ports, signals, the settings).

type Healthcheck = { test?: string | string[]; disable?: boolean };
type Dependency = { condition: string };
type Port = string | number | { target: number; published?: string | number; host_ip?: string };
type Service = {
  image?: string;
  build?: string | { context?: string; dockerfile?: string };
  command?: string | string[];
  environment?: Record<string, string | number | boolean | null>;
  ports?: Port[];
  depends_on?: string[] | Record<string, Dependency>;
  healthcheck?: Healthcheck;
  init?: boolean;
  stop_grace_period?: string;
};

const composeText = readFileSync('docker-compose.yml', 'utf8');
const compose = parse(composeText) as { services: Record<string, Service> };
const services = Object.entries(compose.services);
const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as {
  scripts: Record<string, string>;
  devDependencies: Record<string, string>;
};

// The schema of compose-spec/compose-spec (schema/compose-spec.json), as the dclint package ships it.
const require = createRequire(import.meta.url);
const SCHEMA_FILE = path.join(path.dirname(require.resolve('dclint/package.json')), 'schemas/compose.schema.json');

/** `${NAME:-default}` (or `${NAME-default}`) as Compose reads it with NAME unset; the names found go to `names`. */
const withDefaults = (value: string, names: string[] = []) =>
  value.replace(/\$\{([A-Z0-9_]+)(?::?-([^}]*))?\}/g, (_, name: string, fallback?: string) => {
    names.push(name);
    return fallback ?? '';
  });

/** A published port as host address, host port (as written) and container port. */
function published(port: Port): { hostIp: string; host: string; container: string } {
  if (typeof port === 'object') return { hostIp: port.host_ip ?? '', host: String(port.published ?? ''), container: String(port.target) };
  // [host_ip:]host:container[/protocol], where the host part may be `${NAME:-default}` (which holds a colon).
  const m = /^(?:(\d+\.\d+\.\d+\.\d+):)?(\$\{[^}]+\}|[\d-]+):(\d+)(?:\/\w+)?$/.exec(String(port));
  if (!m) return { hostIp: '', host: '', container: String(port) };
  return { hostIp: m[1] ?? '', host: m[2] as string, container: m[3] as string };
}

const dependencies = (s: Service): Record<string, Dependency> =>
  Array.isArray(s.depends_on)
    ? Object.fromEntries(s.depends_on.map((name) => [name, { condition: 'service_started' }]))
    : (s.depends_on ?? {});

const builtHere = (s: Service) => {
  const build = typeof s.build === 'string' ? { context: s.build } : s.build;
  return build !== undefined && (build.context ?? '.') === '.' && (build.dockerfile ?? 'Dockerfile') === 'Dockerfile';
};

/** A Compose duration (`30s`, `1m30s`, `500ms`) in milliseconds. */
function durationMs(value: string): number {
  const units: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1_000, ms: 1, us: 0.001 };
  let total = 0;
  const rest = value.replace(/(\d+(?:\.\d+)?)(h|ms|m|s|us)/g, (_, n: string, unit: string) => {
    total += Number(n) * (units[unit] as number);
    return '';
  });
  expect(rest, `duration ${value}`).toBe('');
  return total;
}

describe('docker-compose.yml', () => {
  it('is valid against the Compose Specification', () => {
    const { $schema, ...schema } = JSON.parse(readFileSync(SCHEMA_FILE, 'utf8')) as Record<string, unknown>;
    expect(schema.title).toBe('Compose Specification');
    // Draft-07, Ajv's default, which Ajv knows by its http:// address, not the https:// one the file names; with union
    // types and the `deprecated` annotation, which Ajv's strict mode refuses.
    expect($schema).toMatch(/json-schema\.org\/draft-07\/schema/);
    const validate = new Ajv({ allErrors: true, strict: false, allowUnionTypes: true }).compile(schema);
    const valid = validate(compose);
    expect(valid, JSON.stringify(validate.errors, null, 2)).toBe(true);
  });

  it('checks the health of every service; a one-shot says it has none, and the others wait for it to finish', () => {
    const awaitedToFinish = new Set(
      services.flatMap(([, s]) =>
        Object.entries(dependencies(s))
          .filter(([, d]) => d.condition === 'service_completed_successfully')
          .map(([name]) => name),
      ),
    );
    for (const [name, s] of services) {
      expect(s.healthcheck, `${name} has no healthcheck`).toBeDefined();
      if (s.healthcheck?.disable) expect(awaitedToFinish.has(name), `${name} disables its healthcheck but is no one-shot`).toBe(true);
      else expect(s.healthcheck?.test, `${name}: healthcheck without a test`).toBeDefined();
    }
  });

  it('publishes every port on loopback, from a variable, never on the usual ports of local services', () => {
    const usual = ['5432', '5672', '15672'];
    const ports = services.flatMap(([name, s]) => (s.ports ?? []).map((p) => ({ name, p, ...published(p) })));
    expect(ports.length).toBeGreaterThan(0);
    for (const { name, p, hostIp, host } of ports) {
      const names: string[] = [];
      const hostPort = withDefaults(host, names);
      expect(names, `${name}: ${JSON.stringify(p)} has no variable for its host port`).toHaveLength(1);
      expect(hostPort, `${name}: ${JSON.stringify(p)}`).toMatch(/^\d+$/);
      expect(usual, `${name}: ${JSON.stringify(p)} publishes a port local services use`).not.toContain(hostPort);
      expect(hostIp, `${name}: ${JSON.stringify(p)}`).toBe('127.0.0.1');
    }
  });

  it('builds the api from the Dockerfile, with the same image for the migrations', () => {
    const api = compose.services.api as Service;
    expect(builtHere(api)).toBe(true);
    // The Dockerfile's command (npm start's script under tini), not one of its own that could reinstall.
    expect(api.command).toBeUndefined();
    const migrate = compose.services.migrate as Service;
    expect(builtHere(migrate)).toBe(true);
    expect(migrate.image).toBe(api.image);
    expect(migrate.command).toEqual(['npm', 'run', 'db:migrate']);
    expect(pkg.scripts['db:migrate']).toBe('tsx scripts/migrate.ts');
  });

  it('starts the api once the databases are healthy and the migrations done', () => {
    const api = compose.services.api as Service;
    expect(dependencies(api)).toEqual({
      postgres: { condition: 'service_healthy' },
      rabbitmq: { condition: 'service_healthy' },
      migrate: { condition: 'service_completed_successfully' },
    });
    expect(dependencies(compose.services.migrate as Service)).toEqual({ postgres: { condition: 'service_healthy' } });
  });

  it("gives the api's shutdown its time: running tasks up to 10 s, then serverless-offline up to 5 s", () => {
    const api = compose.services.api as Service;
    expect(durationMs(api.stop_grace_period ?? '10s')).toBeGreaterThanOrEqual(20_000);
  });

  it("sets only npm start's settings, with values it accepts, and checks the port the API listens on", () => {
    const known = new Set(
      [
        ...readFileSync('lib/config.ts', 'utf8').matchAll(/^ {2}([A-Z][A-Z0-9_]*):/gm),
        ...readFileSync('serverless.yml', 'utf8').matchAll(/\$\{env:([A-Z][A-Z0-9_]*)/g),
        ...readFileSync('scripts/start.ts', 'utf8').matchAll(/process\.env\.([A-Z][A-Z0-9_]*)/g),
      ].map((m) => m[1] as string),
    );
    expect(known).toContain('QUEUE_DRIVER');
    expect(known).toContain('HTTP_HOST');
    // As Compose passes it with none of the variables set.
    const environment = (s: Service) =>
      Object.fromEntries(Object.entries(s.environment ?? {}).map(([k, v]) => [k, withDefaults(String(v ?? ''))]));
    for (const [name, s] of services.filter(([, s]) => builtHere(s))) {
      for (const key of Object.keys(environment(s))) expect(known, `${name}: ${key} is no setting of npm start`).toContain(key);
      expect(() => parseConfig(environment(s)), name).not.toThrow();
    }
    const api = compose.services.api as Service;
    const env = environment(api);
    expect(parseConfig(env).QUEUE_DRIVER).toBe('rabbitmq');
    expect(env.HTTP_HOST).toBe('0.0.0.0');
    expect(env.LAMBDA_PORT).toBeUndefined(); // the invoke port stays where serverless.yml puts it, on loopback
    const port = String(env.HTTP_PORT);
    expect((api.ports ?? []).map((p) => published(p).container)).toEqual([port]);
    expect(JSON.stringify(api.healthcheck?.test)).toContain(`http://127.0.0.1:${port}/health`);
  });
});

/** The Dockerfile's instructions, continuation lines joined and comments left out, by stage. */
function dockerfileStages(text: string): Array<{ from: string; instructions: Array<{ op: string; args: string }> }> {
  const stages: Array<{ from: string; instructions: Array<{ op: string; args: string }> }> = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i] as string;
    if (/^\s*(#|$)/.test(line)) continue;
    while (line.endsWith('\\') && i + 1 < lines.length) line = `${line.slice(0, -1)} ${(lines[++i] as string).trim()}`;
    const m = /^\s*(\w+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const op = (m[1] as string).toUpperCase();
    const args = (m[2] as string).trim();
    if (op === 'FROM') stages.push({ from: args, instructions: [] });
    else if (stages.length > 0) stages.at(-1)?.instructions.push({ op, args });
  }
  return stages;
}

/** An instruction's arguments as a list: the exec (JSON) form as it is, the shell form as `sh -c`. */
const execForm = (args: string): string[] => (args.startsWith('[') ? (JSON.parse(args) as string[]) : ['/bin/sh', '-c', args]);

describe('Dockerfile', () => {
  const stages = dockerfileStages(readFileSync('Dockerfile', 'utf8'));
  const final = stages.at(-1) as (typeof stages)[number];
  const last = (op: string) => final.instructions.filter((i) => i.op === op).at(-1)?.args;

  it('installs in a build stage and runs as a user that is not root', () => {
    expect(stages.length).toBeGreaterThan(1);
    expect(stages.slice(0, -1).some((s) => s.instructions.some((i) => i.op === 'RUN' && /\bnpm ci\b/.test(i.args)))).toBe(true);
    expect(final.instructions.some((i) => i.op === 'RUN' && /\bnpm (ci|install|i)\b/.test(i.args))).toBe(false);
    const user = last('USER');
    expect(user).toBeDefined();
    expect(['root', '0', '0:0', 'root:root']).not.toContain(user);
  });

  it('has an init as PID 1, and runs the script of npm start without installing anything', () => {
    const entrypoint = execForm(last('ENTRYPOINT') ?? '[]');
    const init = entrypoint.some((a) => /(^|\/)(tini|dumb-init)$/.test(a)) || (compose.services.api as Service).init === true;
    expect(init, 'neither an init as ENTRYPOINT nor init: true in docker-compose.yml').toBe(true);
    // Exec form: a shell as the command would take SIGTERM and not pass it on.
    const cmd = last('CMD') ?? '';
    expect(cmd.startsWith('['), `CMD ${cmd}`).toBe(true);
    const args = execForm(cmd);
    expect(args.join(' ')).not.toMatch(/npm (ci|install|i)\b/);
    // The same script as `npm start`, run by node with tsx's loader.
    const script = pkg.scripts.start?.replace(/^tsx /, '');
    expect(script).toBe('scripts/start.ts');
    expect(args).toEqual(['node', '--import', 'tsx', script]);
  });

  it('keeps only dev dependencies that exist, and lets through to the build what it copies', () => {
    const keep = /ARG KEEP_DEV="([^"]+)"/.exec(readFileSync('Dockerfile', 'utf8'))?.[1]?.split(' ') ?? [];
    expect(keep).toContain('tsx');
    for (const name of keep) expect(pkg.devDependencies, name).toHaveProperty(name);
    const allowed = new Set(
      readFileSync('.dockerignore', 'utf8')
        .split('\n')
        .filter((l) => l.startsWith('!'))
        .map((l) => l.slice(1).replace(/\/$/, '')),
    );
    const copied = stages.flatMap((s) =>
      s.instructions
        .filter((i) => i.op === 'COPY' && !i.args.includes('--from='))
        .flatMap((i) =>
          i.args
            .split(/\s+/)
            .filter((a) => !a.startsWith('--'))
            .slice(0, -1),
        ),
    );
    expect(copied).toContain('lib');
    for (const source of copied) expect(allowed, `.dockerignore leaves out ${source}`).toContain(source);
  });
});
