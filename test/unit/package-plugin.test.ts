import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseConfig } from '#lib/config';

type Refusal = (input: {
  stage: string;
  environment: Record<string, unknown>;
  openApi: boolean;
  parseConfig: typeof parseConfig;
  functions?: Record<string, unknown>;
}) => string | undefined;

const plugin = createRequire(import.meta.url)('../../local/package-plugin.js') as {
  new (serverless: unknown, options: unknown): { hooks: Record<string, unknown> };
  deployRefusal: Refusal;
};

const KEY = 'k'.repeat(16);
const refusal = (stage: string, environment: Record<string, unknown>, openApi = false) =>
  plugin.deployRefusal({ stage, environment, openApi, parseConfig });

describe("local/package-plugin.js's checks of a stage before it is packaged", () => {
  const environment = {
    STAGE: 'dev',
    QUEUE_DRIVER: 'sqs',
    SQS_QUEUE_URL_TASKS_HIGH: { Ref: 'TasksHighQueue' },
    DATABASE_URL: '',
    DATABASE_URL_PARAMETER: '/svc/dev/database-url',
    API_KEYS_PARAMETER: '',
  };

  it('refuses a deployed stage without API keys (nor a parameter naming them), unless the API is meant to be open', () => {
    expect(refusal('dev', { ...environment, API_KEYS: '' })).toMatch(
      /^The stage dev would have no API keys: .*--param apiKeysParameter=\/name, or pass --param openApi=true/,
    );
    expect(refusal('prod', { ...environment, API_KEYS: ' , ' })).toMatch(/^The stage prod would have no API keys/);
    expect(refusal('dev', { ...environment, API_KEYS: '' }, true)).toBeUndefined();
    expect(refusal('dev', { ...environment, API_KEYS: `${KEY},${KEY}x` })).toBeUndefined();
    expect(refusal('dev', { ...environment, API_KEYS_PARAMETER: '/svc/dev/api-keys' })).toBeUndefined();
    // `none` names no parameter (the command line cannot pass an empty value).
    expect(refusal('dev', { ...environment, API_KEYS_PARAMETER: 'none' })).toMatch(/^The stage dev would have no API keys/);
  });

  it('refuses a deployed stage that names no parameter for its database URL', () => {
    expect(refusal('dev', { ...environment, DATABASE_URL_PARAMETER: '' }, true)).toMatch(
      /^The stage dev would have no database: .*--param databaseUrlParameter=/,
    );
    expect(refusal('dev', { ...environment, DATABASE_URL_PARAMETER: 'not a name!' }, true)).toMatch(
      /DATABASE_URL_PARAMETER: must be an SSM/,
    );
  });

  it('refuses settings the functions would not start with, naming them', () => {
    expect(refusal('dev', { ...environment, API_KEYS: 'short' })).toMatch(/^The stage dev would not start: .*API_KEYS.0: each key/s);
    expect(refusal('dev', { ...environment, API_KEYS: KEY, LEASE_MS: 'soon' }, true)).toMatch(/LEASE_MS/);
  });

  it("refuses a queue consumer whose reserved concurrency is below the sum of its mappings' caps", () => {
    const processor = (reserved: unknown, caps: number[]) => ({
      processor: { reservedConcurrency: reserved, events: caps.map((c) => ({ sqs: { arn: 'x', maximumConcurrency: c } })) },
      tasksGet: { events: [{ httpApi: { method: 'GET', path: '/x' } }] },
    });
    const check = (functions: Record<string, unknown>) =>
      plugin.deployRefusal({ stage: 'dev', environment: { ...environment, API_KEYS: KEY }, openApi: false, parseConfig, functions });
    const reserve = (n: string) => ({ 'Fn::If': ['ReserveProcessorConcurrency', n, { Ref: 'AWS::NoValue' }] });
    expect(check(processor(reserve('9'), [5, 3, 2]))).toMatch(/processor would reserve 9 .* \(10\): Lambda would throttle/);
    expect(check(processor(reserve('10'), [5, 3, 2]))).toBeUndefined();
    expect(check(processor(reserve('none'), [50, 30, 20]))).toBeUndefined();
  });

  it('checks nothing on the local stage', () => {
    expect(refusal('local', { API_KEYS: '', LEASE_MS: 'soon' })).toBeUndefined();
  });

  it('runs before serverless-esbuild bundles: listed first, on the package and deploy function events', () => {
    // CloudFormation's short forms (!Ref...) are left unresolved: only the plugins matter here.
    const { plugins } = parse(readFileSync('serverless.yml', 'utf8'), { logLevel: 'error' }) as { plugins: string[] };
    expect(plugins.indexOf('./local/package-plugin.js')).toBe(0);
    expect(plugins).toContain('serverless-esbuild');
    expect(Object.keys(new plugin({}, {}).hooks).sort()).toEqual([
      'before:deploy:function:initialize',
      'before:deploy:function:packageFunction',
      'before:package:createDeploymentArtifacts',
      'before:package:initialize',
    ]);
  });
});
