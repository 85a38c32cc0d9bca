import { afterEach, describe, expect, it } from 'vitest';
import { resetConfig } from '#lib/config';
import { METRICS, prometheusText } from '#lib/metrics';
import { processTaskMessage } from '#lib/tasks/processor';
import { handler as metrics } from '../../functions/metrics';
import { handler as notFound } from '../../functions/not-found';
import { handler as create } from '../../functions/tasks-create';
import { useTestApp } from '../helpers/app';
import { httpEvent, invoke } from '../helpers/lambda';
import { useCapturedOutput } from '../helpers/logs';

const app = useTestApp();

/** One sample of the Prometheus text format: `name{a="x",b="y"} value`. */
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the samples of a Prometheus text exposition, checking that each has a `# TYPE` line before it. */
function parseProm(text: string): { samples: Sample[]; types: Map<string, string> } {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) types.set(type[1] as string, type[2] as string);
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a sample: ${line}`);
    const labels = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1], l[2]]));
    const base = (m[1] as string).replace(/_(bucket|sum|count)$/, '');
    expect(types.has(m[1] as string) || types.has(base), `no # TYPE before ${m[1]}`).toBe(true);
    samples.push({ name: m[1] as string, labels, value: Number(m[3]) });
  }
  return { samples, types };
}

const value = (samples: Sample[], name: string, labels: Record<string, string>): number =>
  samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);

async function scrape(headers: Record<string, string> = {}) {
  const res = await invoke(metrics, httpEvent({ method: 'GET', path: '/metrics', headers }));
  return { res, ...(res.statusCode === 200 ? parseProm(res.body as string) : { samples: [], types: new Map() }) };
}

const createEvent = (body: object) => httpEvent({ method: 'POST', path: '/api/v1/tasks', body });

describe('GET /metrics', () => {
  it('counts created and finished tasks, times runs and requests, and reads the gauges from the database', async () => {
    const before = (await scrape()).samples;
    const ok = await invoke(create, createEvent({ title: 'ok', type: 'checksum', payload: { text: 'a' } }));
    const bad = await invoke(create, createEvent({ title: 'bad', type: 'emulate', payload: { duration_ms: 0, failure_rate: 1 } }));
    expect(await invoke(create, createEvent({ title: '' }))).toMatchObject({ statusCode: 422 });
    await processTaskMessage(JSON.stringify({ task_id: ok.body.id }));
    await processTaskMessage(JSON.stringify({ task_id: bad.body.id }));
    await invoke(notFound, httpEvent({ method: 'GET', path: '/nowhere', routeKey: '$default' }));

    const { res, samples, types } = await scrape();
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    const moved = (name: string, labels: Record<string, string>) => value(samples, name, labels) - value(before, name, labels);

    expect(moved('tasks_created_total', { type: 'checksum' })).toBe(1);
    expect(moved('tasks_created_total', { type: 'emulate' })).toBe(1);
    expect(moved('tasks_finished_total', { type: 'checksum', status: 'COMPLETED' })).toBe(1);
    expect(moved('tasks_finished_total', { type: 'emulate', status: 'FAILED' })).toBe(1);
    expect(moved('task_run_seconds_count', { type: 'checksum', outcome: 'completed' })).toBe(1);
    expect(moved('task_run_seconds_count', { type: 'emulate', outcome: 'failed' })).toBe(1);
    expect(moved('http_requests_total', { route: 'POST /api/v1/tasks', status: '201' })).toBe(2);
    expect(moved('http_requests_total', { route: 'POST /api/v1/tasks', status: '422' })).toBe(1);
    expect(moved('http_requests_total', { route: 'unmatched', status: '404' })).toBe(1);
    // The scrape before this one was counted when it was answered.
    expect(value(samples, 'http_requests_total', { route: 'GET /metrics', status: '200' })).toBeGreaterThanOrEqual(1);

    for (const name of ['task_run_seconds', 'http_request_duration_seconds']) {
      expect(types.get(name)).toBe('histogram');
      const buckets = samples.filter((s) => s.name === `${name}_bucket`);
      expect(new Set(buckets.map((b) => b.labels.le)).size).toBeGreaterThan(5);
      expect(buckets.some((b) => b.labels.le === '+Inf')).toBe(true);
    }
    const infRequests = value(samples, 'http_request_duration_seconds_bucket', { route: 'POST /api/v1/tasks', status: '201', le: '+Inf' });
    expect(infRequests).toBe(value(samples, 'http_request_duration_seconds_count', { route: 'POST /api/v1/tasks', status: '201' }));
    expect(types.get('tasks_created_total')).toBe('counter');

    // Gauges, read from PostgreSQL and the queue at the scrape.
    const counts = await app.db.db.execute<{ status: string; n: number }>('SELECT status, count(*)::int AS n FROM tasks GROUP BY status');
    for (const { status, n } of counts.rows) expect(value(samples, 'tasks', { status })).toBe(n);
    expect(value(samples, 'tasks', { status: 'COMPLETED' })).toBeGreaterThanOrEqual(1);
    expect(samples.find((s) => s.name === 'queue_depth' && s.labels.queue === 'tasks')).toBeDefined();
    expect(samples.find((s) => s.name === 'queue_depth' && s.labels.queue === 'task_intake')).toBeDefined();
    // The failed task left a dead letter in the tasks queue's dead-letter queue.
    expect(value(samples, 'dead_letters', { queue: 'tasks' })).toBeGreaterThanOrEqual(1);
  });

  describe('with API keys', () => {
    const KEY = 'metrics-key-0123456789';
    afterEach(() => {
      delete process.env.API_KEYS;
      resetConfig();
    });

    it('answers 401 without a key, and the metrics with one', async () => {
      process.env.API_KEYS = KEY;
      resetConfig();
      const without = await scrape();
      expect(without.res.statusCode).toBe(401);
      expect(without.res.headers['content-type']).toBe('application/problem+json');
      const withKey = await scrape({ 'x-api-key': KEY });
      expect(withKey.res.statusCode).toBe(200);
      expect(withKey.samples.length).toBeGreaterThan(0);
    });
  });
});

describe('on Lambda, the same figures as CloudWatch metrics (EMF)', () => {
  const output = useCapturedOutput();
  const saved = { fn: process.env.AWS_LAMBDA_FUNCTION_NAME, offline: process.env.IS_OFFLINE };
  afterEach(() => {
    if (saved.fn === undefined) delete process.env.AWS_LAMBDA_FUNCTION_NAME;
    else process.env.AWS_LAMBDA_FUNCTION_NAME = saved.fn;
    if (saved.offline !== undefined) process.env.IS_OFFLINE = saved.offline;
    resetConfig();
  });

  it('writes EMF lines whose metric names and dimensions are those of the Prometheus metrics, and counts nothing in the container', async () => {
    const counted = async () => {
      const text = (await prometheusText()).body;
      return parseProm(text)
        .samples.filter((x) => x.name === 'tasks_created_total' && x.labels.type === 'checksum')
        .reduce((n, x) => n + x.value, 0);
    };
    const before = await counted();
    process.env.AWS_LAMBDA_FUNCTION_NAME = 'async-task-service-test-tasksCreate';
    delete process.env.IS_OFFLINE;
    resetConfig();
    const made = await invoke(create, createEvent({ title: 'emf', type: 'checksum', payload: { text: 'b' } }));
    await processTaskMessage(JSON.stringify({ task_id: made.body.id }));
    output.release();
    // On Lambda the counters go to CloudWatch alone: the process's registry (what /metrics answers) is unchanged.
    expect(await counted()).toBe(before);

    const emf = output.entries().filter((l) => l._aws);
    const byName = new Map<string, Record<string, unknown>>();
    for (const line of emf) {
      const [directive] = line._aws.CloudWatchMetrics;
      expect(directive.Namespace).toBe('AsyncTaskService');
      for (const m of directive.Metrics) byName.set(m.Name, { ...line, dimensions: directive.Dimensions.flat(), unit: m.Unit });
    }
    const expectLine = (d: { name: string; labels: readonly string[] }, unit: string, values: Record<string, unknown>) => {
      const line = byName.get(d.name);
      expect(line, `${d.name} in ${JSON.stringify(emf)}`).toBeDefined();
      expect(line?.dimensions).toEqual(expect.arrayContaining([...d.labels, 'stage', 'service']));
      expect(line).toMatchObject({ unit, ...values });
    };
    expectLine(METRICS.tasksCreated, 'Count', { type: 'checksum', [METRICS.tasksCreated.name]: 1 });
    expectLine(METRICS.httpRequests, 'Count', { route: 'POST /api/v1/tasks', status: '201' });
    expectLine(METRICS.httpRequestSeconds, 'Seconds', { route: 'POST /api/v1/tasks', status: '201' });
    expectLine(METRICS.tasksFinished, 'Count', { type: 'checksum', status: 'COMPLETED' });
    expectLine(METRICS.taskRunSeconds, 'Seconds', { type: 'checksum', outcome: 'completed' });
  });
});
