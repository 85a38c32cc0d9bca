import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ABANDON_AFTER_MS } from '#lib/tasks/processor';
import { TASK_TYPES } from '#lib/tasks/types/index';

const run = promisify(execFile);

type Resource = { Type: string; Properties: Record<string, any> };
type Template = { Resources: Record<string, Resource>; Conditions?: Record<string, unknown> };

/** A condition of the template, evaluated (the intrinsic functions serverless.yml uses in conditions only). */
function holds(template: Template, condition: unknown): boolean {
  const c = condition as Record<string, unknown[]>;
  if (c['Fn::Not']) return !holds(template, c['Fn::Not'][0]);
  if (c['Fn::Equals']) return String(c['Fn::Equals'][0]) === String(c['Fn::Equals'][1]);
  if (typeof condition === 'string' && template.Conditions?.[condition] !== undefined)
    return holds(template, template.Conditions[condition]);
  throw new Error(`not a condition this test knows: ${JSON.stringify(condition)}`);
}

/** A property's value as CloudFormation takes it: an `Fn::If` on a template condition resolved, undefined for AWS::NoValue. */
function resolvedValue(template: Template, value: unknown): unknown {
  const branches = (value as { 'Fn::If'?: [string, unknown, unknown] } | undefined)?.['Fn::If'];
  const chosen = branches ? (holds(template, branches[0]) ? branches[1] : branches[2]) : value;
  return (chosen as { Ref?: string } | undefined)?.Ref === 'AWS::NoValue' ? undefined : chosen;
}

/** The files of a zip, with their compressed sizes (`unzip -Zl`). */
async function zipEntries(zip: string): Promise<Array<{ name: string; compressed: number }>> {
  const { stdout } = await run('unzip', ['-Zl', zip]);
  return stdout
    .split('\n')
    .map((line) => /^[-dl][rwx-]{9}\s+\S+\s+\S+\s+\d+\s+\S+\s+(\d+)\s+\S+\s+\S+\s+\S+\s+(.+)$/.exec(line))
    .filter((m) => m !== null)
    .map((m) => ({ name: m[2] as string, compressed: Number(m[1]) }));
}

describe('serverless package of the default stage (the cloud template, without AWS credentials)', () => {
  const out = mkdtempSync(path.join(os.tmpdir(), 'sls-package-'));
  let template: Template = { Resources: {} };
  let resources: Record<string, Resource> = {};
  let refusal = '';
  const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);

  beforeAll(async () => {
    // serverless-esbuild stages each function in the temporary folder and leaves it there: give it one of ours.
    const staging = path.join(out, 'tmp');
    mkdirSync(staging);
    const env = {
      ...process.env,
      TMPDIR: staging,
      AWS_ACCESS_KEY_ID: '',
      AWS_SECRET_ACCESS_KEY: '',
      AWS_PROFILE: 'none-configured',
      DATABASE_URL: '',
      CORS_ORIGINS: '',
      API_KEYS: '',
      // Settings of local runs, which a deployed stage must not take from the environment of the deploy.
      QUEUE_DRIVER: 'postgres',
      DATABASE_POOL_MAX: '10',
    };
    const serverless = path.resolve('node_modules/.bin/serverless');
    // Without API keys: the packaging of the open API, and (at the same time, refused before any bundling) one of a
    // stage that does not say the API is meant to be open.
    const [, closed] = await Promise.all([
      run(serverless, ['package', '--package', out, '--param', 'openApi=true'], { env, timeout: 240_000 }),
      run(serverless, ['package', '--package', path.join(out, 'refused')], { env, timeout: 120_000 }).then(
        () => 'packaged',
        (err: { stdout: string; stderr: string }) => `${err.stdout}${err.stderr}`,
      ),
    ]);
    refusal = closed;
    template = JSON.parse(readFileSync(path.join(out, 'cloudformation-template-update-stack.json'), 'utf8'));
    resources = template.Resources;
  }, 300_000);
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('refuses a stage without API keys unless its openApi parameter says the API is meant to be open', () => {
    expect(refusal).toContain('The stage dev would have no API keys');
    expect(refusal).toContain('--param openApi=true');
    expect(resources.TasksGetLambdaFunction?.Properties.Environment.Variables.API_KEYS).toBe('');
  });

  it('declares the queues with redrive policies to their dead-letter queues', () => {
    expect(resources.TasksQueue?.Properties).toMatchObject({
      QueueName: 'async-task-service-dev-tasks',
      RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': ['TasksDlq', 'Arn'] }, maxReceiveCount: 5 },
    });
    expect(resources.TaskIntakeQueue?.Properties).toMatchObject({
      QueueName: 'async-task-service-dev-task_intake',
      RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': ['TaskIntakeDlq', 'Arn'] }, maxReceiveCount: 5 },
    });
  });

  it("hides a received message for six times its function's timeout (AWS's advice for a mapped queue)", () => {
    const mappings = ofType('AWS::Lambda::EventSourceMapping').map(([, r]) => r.Properties);
    expect(mappings).toHaveLength(4);
    for (const m of mappings) {
      const queue = resources[m.EventSourceArn['Fn::GetAtt'][0]];
      const fn = resources[m.FunctionName['Fn::GetAtt'][0]];
      expect(fn?.Properties.Timeout).toBeGreaterThan(0);
      expect(queue?.Properties.VisibilityTimeout).toBeGreaterThanOrEqual(6 * fn?.Properties.Timeout);
      expect(queue?.Properties.VisibilityTimeout).toBeLessThanOrEqual(43_200); // SQS's maximum, 12 hours
    }
    // The processor outlives the longest timeout of a task type and the grace of a run that ignores it.
    const longest = Math.max(...Object.values(TASK_TYPES).map((t) => t.timeoutMs)) + ABANDON_AFTER_MS;
    expect(resources.ProcessorLambdaFunction?.Properties.Timeout * 1000).toBeGreaterThan(longest);
  });

  it('maps both queues and their dead-letter queues to their functions with ReportBatchItemFailures', () => {
    const mappings = ofType('AWS::Lambda::EventSourceMapping').map(([, r]) => r.Properties);
    expect(mappings).toHaveLength(4);
    const byQueue = Object.fromEntries(mappings.map((m) => [m.EventSourceArn['Fn::GetAtt'][0], m]));
    for (const [queue, fn] of [
      ['TasksQueue', 'ProcessorLambdaFunction'],
      ['TaskIntakeQueue', 'IntakeLambdaFunction'],
      ['TasksDlq', 'DeadLettersLambdaFunction'],
      ['TaskIntakeDlq', 'DeadLettersLambdaFunction'],
    ]) {
      expect(byQueue[queue as string]).toMatchObject({
        BatchSize: 10,
        FunctionResponseTypes: ['ReportBatchItemFailures'],
        FunctionName: { 'Fn::GetAtt': [fn, 'Arn'] },
      });
    }
  });

  it('gives every function a pool of one connection (a container runs one invocation at a time)', () => {
    const functions = ofType('AWS::Lambda::Function');
    expect(functions.length).toBeGreaterThan(15);
    for (const [name, fn] of functions) expect(fn.Properties.Environment.Variables.DATABASE_POOL_MAX, name).toBe('1');
  });

  it('caps the queue consumers: MaximumConcurrency on each mapping, a reserved concurrency not below it', () => {
    const mappings = ofType('AWS::Lambda::EventSourceMapping').map(([, r]) => r.Properties);
    const caps = Object.fromEntries(
      mappings.map((m) => {
        const fn = m.FunctionName['Fn::GetAtt'][0] as string;
        const reserved = resolvedValue(template, resources[fn]?.Properties.ReservedConcurrentExecutions);
        return [fn, { mapping: m.ScalingConfig?.MaximumConcurrency, reserved }];
      }),
    );
    expect(caps).toEqual({
      ProcessorLambdaFunction: { mapping: 10, reserved: 10 },
      IntakeLambdaFunction: { mapping: 2, reserved: 2 },
      // Records dead letters: rare and short, no concurrency kept for it.
      DeadLettersLambdaFunction: { mapping: 2, reserved: undefined },
    });
    // Only the queue consumers reserve concurrency.
    const reserving = ofType('AWS::Lambda::Function').filter(([, r]) => r.Properties.ReservedConcurrentExecutions !== undefined);
    expect(reserving.map(([name]) => name).sort()).toEqual(['IntakeLambdaFunction', 'ProcessorLambdaFunction']);
  });

  it('routes every contract route through the HTTP API, with a catch-all 404', () => {
    const routes = ofType('AWS::ApiGatewayV2::Route').map(([, r]) => r.Properties.RouteKey as string);
    expect(routes).toEqual(
      expect.arrayContaining([
        'POST /api/v1/tasks',
        'GET /api/v1/tasks',
        'GET /api/v1/tasks/{id}',
        'PATCH /api/v1/tasks/{id}',
        'DELETE /api/v1/tasks/{id}',
        'GET /api/v1/tasks/{id}/status',
        'GET /api/v1/tasks/{id}/events',
        'GET /api/v1/tasks/{id}/callbacks',
        'POST /api/v1/tasks/{id}/retry',
        'GET /health',
        'GET /docs',
        'GET /openapi.json',
        'GET /api/v1/stats',
        'GET /api/v1/task-types',
        'POST /api/v1/tasks/bulk',
        'GET /dashboard',
        'GET /dashboard/{path+}',
        '$default',
      ]),
    );
  });

  it('configures no CORS on the HTTP API without CORS_ORIGINS (no web page of another origin may call it)', () => {
    const apis = ofType('AWS::ApiGatewayV2::Api');
    expect(apis).toHaveLength(1);
    expect(apis[0]?.[1].Properties.CorsConfiguration).toBeUndefined();
  });

  it("leaves out the benchmark's no-op function and its /bench/ping route (local stage only)", () => {
    const routes = ofType('AWS::ApiGatewayV2::Route').map(([, r]) => r.Properties.RouteKey as string);
    expect(routes.filter((r) => r.includes('/bench/'))).toEqual([]);
    expect(routes.length).toBeGreaterThan(10);
    expect(Object.keys(resources).filter((k) => /^Ping/i.test(k))).toEqual([]);
  });

  it('ships the Swagger UI files and the built dashboard in their functions', async () => {
    const list = async (zip: string) => (await run('unzip', ['-l', path.join(out, zip)])).stdout;
    expect(await list('docs.zip')).toMatch(/node_modules\/swagger-ui-dist\/swagger-ui-bundle\.js/);
    expect(await list('dashboard.zip')).toMatch(/dashboard\/dist\/index\.html/);
  });

  it('keeps every zip within its size target: HTTP functions 600 KB, the queue consumers 1 MB', async () => {
    const functions = ofType('AWS::Lambda::Function').map(([name]) => name.replace(/LambdaFunction$/, ''));
    const consumers = new Set(['Processor', 'Intake', 'Dispatcher', 'DeadLetters']);
    const rows = [];
    for (const fn of functions) {
      const zip = `${fn.charAt(0).toLowerCase()}${fn.slice(1)}.zip`;
      const entries = await zipEntries(path.join(out, zip));
      const total = statSync(path.join(out, zip)).size;
      // The docs function's zip also holds the Swagger UI's files (530 KB compressed), which it serves and never
      // loads: its code is measured without them.
      const code = entries.filter((e) => !e.name.startsWith('node_modules/swagger-ui-dist/')).reduce((sum, e) => sum + e.compressed, 0);
      const measured = fn === 'Docs' ? code : total;
      rows.push({ zip, KB: Math.round(total / 1024), 'measured KB': Math.round(measured / 1024) });
      expect(measured, zip).toBeLessThanOrEqual((consumers.has(fn) ? 1024 : 600) * 1024);
    }
    console.table(rows);
    expect(rows.length).toBeGreaterThan(15);
  });

  it('bundles for the Lambda runtime: minified, source maps beside the code, neither the AWS SDK nor the RabbitMQ client', async () => {
    const entries = await zipEntries(path.join(out, 'processor.zip'));
    expect(entries.map((e) => e.name).sort()).toEqual(['functions/processor.js', 'functions/processor.js.map']);
    const code = (await run('unzip', ['-p', path.join(out, 'processor.zip'), 'functions/processor.js'], { maxBuffer: 1 << 26 })).stdout;
    expect(code).toMatch(/\n\/\/# sourceMappingURL=processor\.js\.map\n?$/);
    expect(code).not.toContain('sourceMappingURL=data:');
    expect(code).toContain('require("@aws-sdk/client-sqs")');
    expect(code).not.toContain('class SQSClient');
    // Nor the RabbitMQ client, which the SQS driver never loads.
    expect(code).toContain('require("amqplib")');
    expect(code).not.toContain('amqp-node');
    // Minified: far fewer lines than modules.
    expect(code.split('\n').length).toBeLessThan(2_000);
    const map = JSON.parse(
      (await run('unzip', ['-p', path.join(out, 'processor.zip'), 'functions/processor.js.map'], { maxBuffer: 1 << 26 })).stdout,
    );
    expect(map.sources.filter((source: string) => source.endsWith('/lib/tasks/processor.ts'))).toHaveLength(1);
    expect(map.sourcesContent).toBeUndefined();
  });

  it('builds the cloud stage dev without --stage: SQS, the queue URLs, the schedule enabled', () => {
    const rules = ofType('AWS::Events::Rule').map(([, r]) => r.Properties);
    expect(rules.map((r) => [r.ScheduleExpression, r.State])).toEqual([['rate(1 minute)', 'ENABLED']]);
    expect(JSON.parse(rules[0]?.Targets[0].Input)).toEqual({ repeat_for_ms: 50000, every_ms: 10000 });
    const env = resources.ProcessorLambdaFunction?.Properties.Environment.Variables;
    expect(env).toMatchObject({
      STAGE: 'dev',
      QUEUE_DRIVER: 'sqs',
      SQS_QUEUE_URL_TASKS: { Ref: 'TasksQueue' },
      SQS_QUEUE_URL_TASKS_DLQ: { Ref: 'TasksDlq' },
      SQS_QUEUE_URL_TASK_INTAKE: { Ref: 'TaskIntakeQueue' },
      SQS_QUEUE_URL_TASK_INTAKE_DLQ: { Ref: 'TaskIntakeDlq' },
    });
    expect(resources.ProcessorLambdaFunction?.Properties.FunctionName).toBe('async-task-service-dev-processor');
    expect(resources.ProcessorLambdaFunction?.Properties.Runtime).toBe('nodejs22.x');
  });
});
