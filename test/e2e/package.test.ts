import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { CreateQueueCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { MIGRATION_LOCK_KEY } from '#lib/db/migrate';
import { ROUTES, type RouteSpec } from '#lib/http/routes';
import { METRICS, METRICS_NAMESPACE } from '#lib/metrics';
import { ABANDON_AFTER_MS } from '#lib/tasks/processor';
import { TASK_TYPES } from '#lib/tasks/types/index';
import { adminQuery, dropDatabase } from '#local/pg-admin';
import { type LocalSqs, startLocalSqs } from '../helpers/external-services';
import {
  type PackagedFunction,
  type ResponseUrlStandIn,
  type SsmStandIn,
  startResponseUrlStandIn,
  startSsmStandIn,
  unzipFunction,
} from '../helpers/packaged';

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
    // The default stage (its secrets named by the default parameters), and (at the same time, refused before any
    // bundling) one without a parameter for its API keys that does not say the API is meant to be open.
    const [, closed] = await Promise.all([
      run(serverless, ['package', '--package', out], { env, timeout: 240_000 }),
      run(serverless, ['package', '--package', path.join(out, 'refused'), '--param', 'apiKeysParameter=none'], {
        env,
        timeout: 120_000,
      }).then(
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
  });

  it('names the secrets (SSM parameters) in the environment and holds no secret value', () => {
    const functions = ofType('AWS::Lambda::Function');
    for (const [name, fn] of functions) {
      const env = fn.Properties.Environment.Variables;
      expect(env, name).toMatchObject({
        DATABASE_URL_PARAMETER: '/async-task-service/dev/database-url',
        API_KEYS_PARAMETER: '/async-task-service/dev/api-keys',
      });
      expect([env.DATABASE_URL, env.API_KEYS], name).toEqual(['', '']);
    }
    // No connection string or key anywhere in the template.
    expect(JSON.stringify(template)).not.toMatch(/postgres(ql)?:\/\//);
  });

  it("lets the functions' role read exactly the two parameters, and the stage's queues; no VPC unless given", () => {
    const role = resources.IamRoleLambdaExecution?.Properties;
    const statements = role?.Policies.flatMap((p: { PolicyDocument: { Statement: unknown[] } }) => p.PolicyDocument.Statement) as Array<{
      Action: string[];
      Resource: unknown[];
    }>;
    const ssm = statements.filter((s) => s.Action.some((a) => a.startsWith('ssm:')));
    expect(ssm).toEqual([
      {
        Effect: 'Allow',
        Action: ['ssm:GetParameters'],
        Resource: [
          { 'Fn::Sub': 'arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/async-task-service/dev/database-url' },
          { 'Fn::Sub': 'arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/async-task-service/dev/api-keys' },
        ],
      },
    ]);
    // The AWS managed key needs no grant; a customer managed one (secretsKmsKeyArn) is tested in test/unit/cloud-settings.test.ts.
    expect(statements.filter((s) => s.Action.some((a) => a.startsWith('kms:')))).toEqual([]);
    const sqs = statements.find((s) => s.Action.includes('sqs:SendMessage'));
    expect(sqs?.Resource.map((r) => (r as { 'Fn::GetAtt': string[] })['Fn::GetAtt'][0]).sort()).toEqual(
      ['TaskIntakeDlq', 'TaskIntakeQueue', 'TasksDlq', 'TasksHighQueue', 'TasksLowQueue', 'TasksMediumQueue'].sort(),
    );
    expect(statements.flatMap((s) => s.Resource).filter((r) => r === '*').length).toBeLessThanOrEqual(1); // X-Ray's own
    expect(role?.ManagedPolicyArns).toBeUndefined();
    for (const [name, fn] of ofType('AWS::Lambda::Function')) expect(fn.Properties.VpcConfig, name).toBeUndefined();
  });

  it('traces every function with X-Ray (active)', () => {
    for (const [name, fn] of ofType('AWS::Lambda::Function')) expect(fn.Properties.TracingConfig, name).toEqual({ Mode: 'Active' });
  });

  it('alarms on each dead-letter queue, and on the processor errors and throttles, without actions when no topic is given', () => {
    const alarms = Object.fromEntries(ofType('AWS::CloudWatch::Alarm').map(([name, r]) => [name, r.Properties]));
    const watched = Object.values(alarms)
      .filter((a) => a.Namespace)
      .map((a) => [a.Namespace, a.MetricName, Object.values(a.Dimensions[0].Value)[0]]);
    expect(watched).toEqual(
      expect.arrayContaining([
        ['AWS/SQS', 'NumberOfMessagesReceived', ['TasksDlq', 'QueueName']],
        ['AWS/SQS', 'NumberOfMessagesReceived', ['TaskIntakeDlq', 'QueueName']],
        ['AWS/Lambda', 'Errors', 'ProcessorLambdaFunction'],
        ['AWS/Lambda', 'Throttles', 'ProcessorLambdaFunction'],
      ]),
    );
    // Every dead letter, also those the service writes itself: the dead_letters gauge (lib/metrics.ts) went up.
    const recorded = alarms.DeadLettersRecordedAlarm;
    expect(recorded?.Metrics[0].MetricStat.Metric).toMatchObject({ Namespace: METRICS_NAMESPACE, MetricName: METRICS.deadLetters.name });
    expect(recorded?.Metrics[1].Expression).toBe('DIFF(recorded)');
    for (const alarm of Object.values(alarms)) {
      expect(alarm.Threshold).toBe(0);
      expect(resolvedValue(template, alarm.AlarmActions)).toBeUndefined();
    }
  });

  it('runs the migrations on deploy: a custom resource invoking the migrate function, updated when a migration is added', () => {
    const journal = readFileSync('drizzle/meta/_journal.json');
    expect(resources.DatabaseMigrations).toEqual({
      Type: 'Custom::DatabaseMigrations',
      Properties: {
        ServiceToken: { 'Fn::GetAtt': ['MigrateLambdaFunction', 'Arn'] },
        Migrations: createHash('sha256').update(journal).digest('hex').slice(0, 16),
      },
    });
    expect(resources.MigrateLambdaFunction?.Properties.Timeout).toBe(300);
  });

  it('declares one tasks queue per priority and the intake queue, with redrive policies to their dead-letter queues', () => {
    for (const band of ['High', 'Medium', 'Low']) {
      expect(resources[`Tasks${band}Queue`]?.Properties).toMatchObject({
        QueueName: `async-task-service-dev-tasks-${band.toLowerCase()}`,
        RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': ['TasksDlq', 'Arn'] }, maxReceiveCount: 5 },
      });
    }
    expect(resources.TaskIntakeQueue?.Properties).toMatchObject({
      QueueName: 'async-task-service-dev-task_intake',
      RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': ['TaskIntakeDlq', 'Arn'] }, maxReceiveCount: 5 },
    });
  });

  it("hides a received message for six times its function's timeout (AWS's advice for a mapped queue)", () => {
    const mappings = ofType('AWS::Lambda::EventSourceMapping').map(([, r]) => r.Properties);
    expect(mappings).toHaveLength(6);
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

  it('maps the three priority queues, the intake queue and the dead-letter queues to their functions with ReportBatchItemFailures', () => {
    const mappings = ofType('AWS::Lambda::EventSourceMapping').map(([, r]) => r.Properties);
    expect(mappings).toHaveLength(6);
    const byQueue = Object.fromEntries(mappings.map((m) => [m.EventSourceArn['Fn::GetAtt'][0], m]));
    for (const [queue, fn] of [
      ['TasksHighQueue', 'ProcessorLambdaFunction'],
      ['TasksMediumQueue', 'ProcessorLambdaFunction'],
      ['TasksLowQueue', 'ProcessorLambdaFunction'],
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
    const caps = mappings.map((m) => {
      const fn = m.FunctionName['Fn::GetAtt'][0] as string;
      const reserved = resolvedValue(template, resources[fn]?.Properties.ReservedConcurrentExecutions);
      return { queue: m.EventSourceArn['Fn::GetAtt'][0], fn, mapping: m.ScalingConfig?.MaximumConcurrency, reserved };
    });
    expect(caps).toEqual(
      expect.arrayContaining([
        { queue: 'TasksHighQueue', fn: 'ProcessorLambdaFunction', mapping: 5, reserved: 10 },
        { queue: 'TasksMediumQueue', fn: 'ProcessorLambdaFunction', mapping: 3, reserved: 10 },
        { queue: 'TasksLowQueue', fn: 'ProcessorLambdaFunction', mapping: 2, reserved: 10 },
        { queue: 'TaskIntakeQueue', fn: 'IntakeLambdaFunction', mapping: 2, reserved: 2 },
        // Records dead letters: rare and short, no concurrency kept for it.
        { queue: 'TasksDlq', fn: 'DeadLettersLambdaFunction', mapping: 2, reserved: undefined },
        { queue: 'TaskIntakeDlq', fn: 'DeadLettersLambdaFunction', mapping: 2, reserved: undefined },
      ]),
    );
    // The processor's reserved concurrency is not below the sum of its mappings' caps (Lambda would throttle them).
    const processorCaps = caps.filter((c) => c.fn === 'ProcessorLambdaFunction').reduce((sum, c) => sum + Number(c.mapping), 0);
    const processorReserved = resolvedValue(template, resources.ProcessorLambdaFunction?.Properties.ReservedConcurrentExecutions);
    expect(Number(processorReserved)).toBeGreaterThanOrEqual(processorCaps);
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
    expect(JSON.parse(rules[0]?.Targets[0].Input)).toEqual({ repeat_for_ms: 62000, every_ms: 10000, schedules_for_ms: 62000 });
    const env = resources.ProcessorLambdaFunction?.Properties.Environment.Variables;
    expect(env).toMatchObject({
      STAGE: 'dev',
      QUEUE_DRIVER: 'sqs',
      SQS_QUEUE_URL_TASKS_HIGH: { Ref: 'TasksHighQueue' },
      SQS_QUEUE_URL_TASKS_MEDIUM: { Ref: 'TasksMediumQueue' },
      SQS_QUEUE_URL_TASKS_LOW: { Ref: 'TasksLowQueue' },
      SQS_QUEUE_URL_TASKS_DLQ: { Ref: 'TasksDlq' },
      SQS_QUEUE_URL_TASK_INTAKE: { Ref: 'TaskIntakeQueue' },
      SQS_QUEUE_URL_TASK_INTAKE_DLQ: { Ref: 'TaskIntakeDlq' },
    });
    expect(resources.ProcessorLambdaFunction?.Properties.FunctionName).toBe('async-task-service-dev-processor');
    expect(resources.ProcessorLambdaFunction?.Properties.Runtime).toBe('nodejs22.x');
  });

  describe('the packaged bytes, run in fresh processes against PostgreSQL, an SQS emulator and an SSM stand-in', () => {
    const serverUrl = inject('databaseUrl');
    const dbName = `pkg_${randomBytes(6).toString('hex')}`;
    const dbUrl = `${serverUrl.replace(/\/[^/]*$/, '')}/${dbName}`;
    const apiKey = `key-${randomBytes(12).toString('hex')}`;
    const names = { db: '/async-task-service/dev/database-url', keys: '/async-task-service/dev/api-keys' };
    let sqs: LocalSqs;
    let ssm: SsmStandIn;
    let responses: ResponseUrlStandIn;
    let sqsClient: SQSClient;
    const queueUrls: Record<string, string> = {};
    const fns: Record<string, PackagedFunction> = {};
    let lockHolder: pg.Client | undefined;

    /** The environment the template gives a function, its queue references made the emulator's URLs. */
    const envOf = (logicalId: string): Record<string, string> => {
      const vars = resources[logicalId]?.Properties.Environment.Variables as Record<string, unknown>;
      const env = Object.fromEntries(
        Object.entries(vars).map(([k, v]) => [k, typeof v === 'string' ? v : (queueUrls[(v as { Ref: string }).Ref] ?? '')]),
      );
      return {
        ...env,
        AWS_REGION: 'us-east-1',
        AWS_ACCESS_KEY_ID: 'test',
        AWS_SECRET_ACCESS_KEY: 'test',
        AWS_ENDPOINT_URL_SQS: sqs.endpoint,
        AWS_ENDPOINT_URL_SSM: ssm.endpoint,
        AWS_LAMBDA_FUNCTION_NAME: logicalId,
        // As in Lambda with active tracing: the Tracer is on, its segments sent to a UDP port where nothing listens.
        AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs22.x',
        _X_AMZN_TRACE_ID: 'Root=1-6743a1f2-1b2c3d4e5f6a7b8c9d0e1f2a;Parent=53995c3f42cd8ad8;Sampled=1',
        AWS_XRAY_DAEMON_ADDRESS: '127.0.0.1:9',
        LOG_LEVEL: 'SILENT',
        EMULATE_MIN_MS: '0',
        EMULATE_MAX_MS: '20',
        EMULATE_FAILURE_RATE: '0',
      };
    };

    const cfnEvent = (RequestType: 'Create' | 'Update' | 'Delete', ResponseURL: string) => ({
      RequestType,
      ResponseURL,
      StackId: 'arn:aws:cloudformation:us-east-1:123456789012:stack/async-task-service-dev/1',
      RequestId: randomBytes(8).toString('hex'),
      LogicalResourceId: 'DatabaseMigrations',
      ResourceType: 'Custom::DatabaseMigrations',
      ResourceProperties: { ServiceToken: 'arn', Migrations: resources.DatabaseMigrations?.Properties.Migrations },
    });
    const answerAt = (url: string) => {
      const u = new URL(url);
      return responses.answers.get(`${u.pathname}${u.search}`);
    };
    const httpEvent = (method: string, rawPath: string, routeKey: string, extra: Record<string, unknown> = {}) => ({
      version: '2.0',
      routeKey,
      rawPath,
      rawQueryString: '',
      headers: { 'content-type': 'application/json', 'x-api-key': apiKey },
      requestContext: { http: { method, path: rawPath }, requestId: randomBytes(6).toString('hex'), routeKey, stage: '$default' },
      isBase64Encoded: false,
      ...extra,
    });

    beforeAll(async () => {
      await adminQuery(serverUrl, `create database ${dbName}`);
      sqs = await startLocalSqs();
      ssm = await startSsmStandIn({ [names.db]: dbUrl, [names.keys]: `${apiKey},another-key-of-16-chars` });
      responses = await startResponseUrlStandIn();
      sqsClient = new SQSClient({
        region: 'us-east-1',
        endpoint: sqs.endpoint,
        credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
      });
      for (const id of ['TasksHighQueue', 'TasksMediumQueue', 'TasksLowQueue', 'TasksDlq', 'TaskIntakeQueue', 'TaskIntakeDlq']) {
        const { QueueUrl } = await sqsClient.send(new CreateQueueCommand({ QueueName: `pkg-${id}` }));
        queueUrls[id] = QueueUrl as string;
      }
      for (const [zip, id] of [
        ['migrate', 'MigrateLambdaFunction'],
        ['tasksCreate', 'TasksCreateLambdaFunction'],
        ['tasksGet', 'TasksGetLambdaFunction'],
        ['processor', 'ProcessorLambdaFunction'],
        ['intake', 'IntakeLambdaFunction'],
      ] as const) {
        fns[zip] = await unzipFunction(path.join(out, `${zip}.zip`), path.join(out, 'run', zip), envOf(id));
      }
    });
    afterAll(async () => {
      await lockHolder?.end().catch(() => {});
      sqsClient?.destroy();
      await Promise.all([sqs?.close(), ssm?.close(), responses?.close()]);
      await dropDatabase(serverUrl, dbName);
    });

    it('migrate: two concurrent Creates wait for the migration lock, then both migrate the fresh database and answer SUCCESS', async () => {
      lockHolder = new pg.Client({ connectionString: dbUrl });
      await lockHolder.connect();
      await lockHolder.query('select pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
      const urls = [responses.url(), responses.url()];
      const both = Promise.all(urls.map((url) => fns.migrate?.invoke(cfnEvent('Create', url))));
      await new Promise((resolve) => setTimeout(resolve, 4_000));
      // Both are still waiting for the lock: nothing answered, nothing migrated.
      expect(urls.map(answerAt)).toEqual([undefined, undefined]);
      await lockHolder.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
      await both;
      for (const url of urls) {
        expect(answerAt(url)).toMatchObject({
          contentType: '',
          body: { Status: 'SUCCESS', LogicalResourceId: 'DatabaseMigrations', PhysicalResourceId: 'DatabaseMigrations' },
        });
      }
      const journal = JSON.parse(readFileSync('drizzle/meta/_journal.json', 'utf8')) as { entries: unknown[] };
      const applied = await lockHolder.query('select count(*)::int as n from drizzle.__drizzle_migrations');
      expect(applied.rows[0].n).toBe(journal.entries.length);
      const tables = await lockHolder.query("select to_regclass('public.tasks') as t");
      expect(tables.rows[0].t).toBe('tasks');
      // The database URL came from SSM, asked for by name, decrypted.
      expect(ssm.requests).toContainEqual({ Names: expect.arrayContaining([names.db]), WithDecryption: true });
    }, 120_000);

    it('migrate: a failure answers FAILED with the reason; a Delete answers SUCCESS without touching the database', async () => {
      const url = responses.url();
      const broken = { AWS_ENDPOINT_URL_SSM: ssm.endpoint, DATABASE_URL_PARAMETER: '/async-task-service/dev/missing' };
      await fns.migrate?.invoke(cfnEvent('Update', url), broken);
      expect(answerAt(url)?.body).toMatchObject({ Status: 'FAILED', Reason: expect.stringContaining('/async-task-service/dev/missing') });
      ssm.values.set('/async-task-service/dev/unreachable', 'postgres://postgres@127.0.0.1:1/nothing');
      const unreachable = responses.url();
      await fns.migrate?.invoke(cfnEvent('Create', unreachable), { DATABASE_URL_PARAMETER: '/async-task-service/dev/unreachable' });
      expect(answerAt(unreachable)?.body).toMatchObject({ Status: 'FAILED', Reason: expect.stringMatching(/ECONNREFUSED/) });
      const deleted = responses.url();
      await fns.migrate?.invoke(cfnEvent('Delete', deleted), { DATABASE_URL_PARAMETER: '/async-task-service/dev/unreachable' });
      expect(answerAt(deleted)?.body).toMatchObject({ Status: 'SUCCESS' });
    }, 120_000);

    it('tasksCreate and tasksGet answer API Gateway v2 events with the API keys read from SSM; the processor runs the task from its priority queue', async () => {
      const body = JSON.stringify({ title: 'Packaged', priority: 'HIGH', payload: { duration_ms: 0, failure_rate: 0 } });
      const refused = (await fns.tasksCreate?.invoke({
        ...httpEvent('POST', '/api/v1/tasks', 'POST /api/v1/tasks', { body }),
        headers: { 'content-type': 'application/json', 'x-api-key': 'not-a-key-of-the-stage' },
      })) as { statusCode: number };
      expect(refused.statusCode).toBe(401);
      const created = (await fns.tasksCreate?.invoke(httpEvent('POST', '/api/v1/tasks', 'POST /api/v1/tasks', { body }))) as {
        statusCode: number;
        body: string;
      };
      expect(created.statusCode, created.body).toBe(201);
      const { id } = JSON.parse(created.body) as { id: string };
      expect(ssm.requests).toContainEqual({ Names: expect.arrayContaining([names.db, names.keys]), WithDecryption: true });

      // Published to the HIGH queue, nothing to the others.
      const { Messages = [] } = await sqsClient.send(
        new ReceiveMessageCommand({
          QueueUrl: queueUrls.TasksHighQueue,
          MaxNumberOfMessages: 10,
          WaitTimeSeconds: 1,
          MessageAttributeNames: ['All'],
        }),
      );
      expect(Messages.map((m) => JSON.parse(m.Body ?? '{}'))).toEqual([{ task_id: id }]);
      for (const other of ['TasksMediumQueue', 'TasksLowQueue']) {
        const rest = await sqsClient.send(new ReceiveMessageCommand({ QueueUrl: queueUrls[other], WaitTimeSeconds: 0 }));
        expect(rest.Messages ?? [], other).toEqual([]);
      }

      const sqsEvent = {
        Records: Messages.map((m) => ({
          messageId: m.MessageId,
          receiptHandle: m.ReceiptHandle,
          body: m.Body,
          attributes: { ApproximateReceiveCount: '1', SentTimestamp: String(Date.now()) },
          messageAttributes: {},
          eventSource: 'aws:sqs',
          eventSourceARN: 'arn:aws:sqs:us-east-1:123456789012:async-task-service-dev-tasks-high',
          awsRegion: 'us-east-1',
        })),
      };
      expect(await fns.processor?.invoke(sqsEvent)).toEqual({ batchItemFailures: [] });

      const got = (await fns.tasksGet?.invoke(
        httpEvent('GET', `/api/v1/tasks/${id}`, 'GET /api/v1/tasks/{id}', { pathParameters: { id } }),
      )) as { statusCode: number; body: string };
      expect(got.statusCode, got.body).toBe(200);
      expect(JSON.parse(got.body)).toMatchObject({ id, status: 'COMPLETED', priority: 'HIGH' });
    }, 120_000);

    it('maps a stack trace of a packaged function to the TypeScript file and line, reading its source map only then', async () => {
      // Not an API Gateway event at all: the handler's own code throws before the middy stack runs.
      const thrown = await fns.tasksGet?.invoke(null).then(
        () => undefined,
        (err: Error) => err.message,
      );
      expect(thrown).toMatch(/TypeError/);
      expect(thrown).toMatch(/lib\/http\/handler\.ts:\d+:\d+/);
      expect(thrown).not.toMatch(/tasks-get\.js:\d+:\d+/);
    });

    it("every HTTP function's bundle loads in a fresh process and answers its route: 422 for a bad input, 200 without one", async () => {
      // Each bundle keeps only its own route's schemas (lib/http/routes.ts): one the handler needs that the bundler
      // dropped would show here as a crash or a 500.
      const answers: Record<string, number | string> = {};
      for (const [name, route] of Object.entries(ROUTES) as Array<[string, RouteSpec]>) {
        if (route.stages && !route.stages.includes('dev')) continue;
        const id = `${route.function.charAt(0).toUpperCase()}${route.function.slice(1)}LambdaFunction`;
        fns[route.function] ??= await unzipFunction(
          path.join(out, `${route.function}.zip`),
          path.join(out, 'run', route.function),
          envOf(id),
        );
        const request = 'request' in route ? route.request : undefined;
        // Checked in this order by the handler: the body, the query, the path parameters.
        const params = Object.fromEntries([...route.path.matchAll(/\{(\w+)\+?\}/g)].map((m) => [m[1] as string, 'not-a-uuid']));
        const rawPath = route.path.replace(/\{(\w+)\+?\}/g, 'not-a-uuid');
        const extra = request?.body
          ? { body: '[]' }
          : request?.query
            ? { rawQueryString: 'limit=abc&wait=abc', queryStringParameters: { limit: 'abc', wait: 'abc' } }
            : {};
        const result = (await fns[route.function]
          ?.invoke(httpEvent(route.method, rawPath, `${route.method} ${route.path}`, { pathParameters: params, ...extra }))
          .catch((err: Error) => err.message)) as { statusCode: number } | string;
        answers[name] = typeof result === 'string' ? result : result.statusCode;
        // A route without an input schema takes any path parameter (the docs' asset, the dashboard's path): not a 500.
        const expected = request?.body || request?.query || request?.params ? 422 : Object.keys(params).length ? answers[name] : 200;
        expect([name, answers[name]]).toEqual([name, expected]);
        expect(answers[name], name).toBeLessThan(500);
      }
      expect(Object.keys(answers).length).toBeGreaterThan(25);
    }, 180_000);

    it('intake creates a task from an SQS batch, publishing it to the queue of its priority', async () => {
      const key = `intake-${randomBytes(4).toString('hex')}`;
      const event = {
        Records: [
          {
            messageId: 'm-1',
            receiptHandle: 'r-1',
            body: JSON.stringify({
              title: 'From intake',
              priority: 'LOW',
              payload: { duration_ms: 0, failure_rate: 0 },
              idempotency_key: key,
            }),
            attributes: { ApproximateReceiveCount: '1', SentTimestamp: String(Date.now()) },
            messageAttributes: {},
            eventSource: 'aws:sqs',
            eventSourceARN: 'arn:aws:sqs:us-east-1:123456789012:async-task-service-dev-task_intake',
            awsRegion: 'us-east-1',
          },
        ],
      };
      expect(await fns.intake?.invoke(event)).toEqual({ batchItemFailures: [] });
      const { Messages = [] } = await sqsClient.send(
        new ReceiveMessageCommand({ QueueUrl: queueUrls.TasksLowQueue, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
      );
      expect(Messages).toHaveLength(1);
      const rows = await lockHolder?.query('select title, priority from tasks where idempotency_key = $1', [key]);
      expect(rows?.rows).toEqual([{ title: 'From intake', priority: 'LOW' }]);
    }, 120_000);
  });
});
