import type { Metrics } from '@aws-lambda-powertools/metrics';
import type { MetricUnit as Unit } from '@aws-lambda-powertools/metrics/types';
import type { Gauge, Registry } from 'prom-client';
import { config, onLambda } from '#lib/config';

// The service's metrics, defined once and recorded in two places under the same names:
// - a prom-client registry in the process, scraped at GET /metrics. Locally serverless-offline runs every function
//   in one process, so the counters that handlers move add up there;
// - on Lambda, where a container's counters mean nothing, CloudWatch metrics written as EMF log lines
//   (Powertools Metrics), which CloudWatch adds up across containers.
// Gauges (tasks by status, queue depths) are read from PostgreSQL and the queue when they are wanted
// (lib/tasks/metrics.ts), not counted.
//
// Each library is loaded where it is used, at its first use (`require`, which the bundler still bundles): on Lambda
// the counters go to CloudWatch alone and prom-client is loaded only where gauges are recorded (the metrics function,
// which answers them, and the dispatcher, which publishes them); outside Lambda Powertools Metrics is never loaded.
// Loading both at every cold start cost about 8 ms of a read-only function's module load.

/** The CloudWatch namespace of the deployed stages' metrics. */
export const METRICS_NAMESPACE = 'AsyncTaskService';

/** Run and request times, in seconds: from a millisecond to about ten minutes. */
const SECONDS_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];

type Kind = 'counter' | 'histogram' | 'gauge';
interface Definition<L extends string> {
  name: string;
  help: string;
  kind: Kind;
  labels: readonly L[];
}
const define = <L extends string>(name: string, kind: Kind, labels: readonly L[], help: string): Definition<L> => ({
  name,
  kind,
  labels,
  help,
});

/** Every metric of the service: its name (the same in Prometheus and CloudWatch), kind, labels (dimensions). */
export const METRICS = {
  tasksCreated: define('tasks_created_total', 'counter', ['type'], 'Tasks created'),
  tasksFinished: define('tasks_finished_total', 'counter', ['type', 'status'], 'Tasks that reached COMPLETED, FAILED or CANCELLED'),
  taskRunSeconds: define(
    'task_run_seconds',
    'histogram',
    ['type', 'outcome'],
    'Run times of task attempts, by outcome (completed, failed, retried)',
  ),
  httpRequests: define('http_requests_total', 'counter', ['route', 'status'], 'HTTP requests answered'),
  httpRequestSeconds: define('http_request_duration_seconds', 'histogram', ['route', 'status'], 'HTTP request latency'),
  tasks: define('tasks', 'gauge', ['status'], 'Tasks by status'),
  queueDepth: define('queue_depth', 'gauge', ['queue'], 'Messages waiting in a queue'),
  deadLetters: define('dead_letters', 'gauge', ['queue'], 'Messages in the dead-letter queue of a queue'),
} as const;

type Labels<D> = D extends Definition<infer L> ? Record<L, string> : never;

function createMetrics() {
  const { Counter, Gauge, Histogram, Registry } = require('prom-client') as typeof import('prom-client');
  const counter = <L extends string>(d: Definition<L>, registry: Registry) =>
    new Counter({ name: d.name, help: d.help, labelNames: d.labels, registers: [registry] });
  const histogram = <L extends string>(d: Definition<L>, registry: Registry) =>
    new Histogram({ name: d.name, help: d.help, labelNames: d.labels, buckets: SECONDS_BUCKETS, registers: [registry] });
  const gauge = <L extends string>(d: Definition<L>, registry: Registry) =>
    new Gauge({ name: d.name, help: d.help, labelNames: d.labels, registers: [registry] });
  const registry = new Registry();
  return {
    registry,
    tasksCreated: counter(METRICS.tasksCreated, registry),
    tasksFinished: counter(METRICS.tasksFinished, registry),
    taskRunSeconds: histogram(METRICS.taskRunSeconds, registry),
    httpRequests: counter(METRICS.httpRequests, registry),
    httpRequestSeconds: histogram(METRICS.httpRequestSeconds, registry),
    tasks: gauge(METRICS.tasks, registry),
    queueDepth: gauge(METRICS.queueDepth, registry),
    deadLetters: gauge(METRICS.deadLetters, registry),
  };
}

/**
 * The process's registry and metrics (GET /metrics), one per process: each function is bundled on its own, and
 * serverless-offline loads every bundle into one process, each with its own copy of this module.
 */
const SHARED = Symbol.for('async-task-service.metrics');
type ServiceMetrics = ReturnType<typeof createMetrics>;
const shared = globalThis as { [SHARED]?: ServiceMetrics };
const registryMetrics = (): ServiceMetrics => {
  shared[SHARED] ??= createMetrics();
  return shared[SHARED];
};
/** The process's registry for counting, outside Lambda; on Lambda nothing counts in the container. */
const prom = (): ServiceMetrics | undefined => (onLambda() ? undefined : registryMetrics());

let cloudWatch: Metrics | undefined;

/**
 * Writes metrics that share their dimensions as one EMF line (CloudWatch reads it from the function's log), on
 * Lambda only. One line per call: the metrics of the service differ in their dimensions, and an EMF line's
 * dimensions apply to all of its metrics.
 */
function emit(dimensions: Record<string, string>, values: ReadonlyArray<{ name: string; unit: Unit; value: number }>): void {
  if (!onLambda()) return;
  if (!cloudWatch) {
    const { Metrics } = require('@aws-lambda-powertools/metrics') as typeof import('@aws-lambda-powertools/metrics');
    cloudWatch = new Metrics({
      namespace: METRICS_NAMESPACE,
      serviceName: 'async-task-service',
      defaultDimensions: { stage: config().STAGE },
    });
  }
  for (const [name, value] of Object.entries(dimensions)) cloudWatch.addDimension(name, value);
  for (const { name, unit, value } of values) cloudWatch.addMetric(name, unit, value);
  // Synchronous from the first dimension to the write: no other call's values can mix in.
  cloudWatch.publishStoredMetrics();
}

/** A task was created. */
export function countTaskCreated(labels: Labels<typeof METRICS.tasksCreated>): void {
  prom()?.tasksCreated.inc(labels);
  emit(labels, [{ name: METRICS.tasksCreated.name, unit: 'Count', value: 1 }]);
}

/** A task reached a terminal status. */
export function countTaskFinished(labels: Labels<typeof METRICS.tasksFinished>): void {
  prom()?.tasksFinished.inc(labels);
  emit(labels, [{ name: METRICS.tasksFinished.name, unit: 'Count', value: 1 }]);
}

/** An attempt of a task ended after `seconds`. */
export function observeTaskRun(labels: Labels<typeof METRICS.taskRunSeconds>, seconds: number): void {
  prom()?.taskRunSeconds.observe(labels, seconds);
  emit(labels, [{ name: METRICS.taskRunSeconds.name, unit: 'Seconds', value: seconds }]);
}

/** An HTTP request was answered with `labels.status` after `seconds`. */
export function observeHttpRequest(labels: Labels<typeof METRICS.httpRequests>, seconds: number): void {
  const p = prom();
  p?.httpRequests.inc(labels);
  p?.httpRequestSeconds.observe(labels, seconds);
  emit(labels, [
    { name: METRICS.httpRequests.name, unit: 'Count', value: 1 },
    { name: METRICS.httpRequestSeconds.name, unit: 'Seconds', value: seconds },
  ]);
}

/** What the gauges say now (null: unknown, left out). */
export interface GaugeValues {
  tasks: Record<string, number>;
  queueDepth: Record<string, number | null>;
  deadLetters: Record<string, number | null>;
}

/** Sets the gauges of the registry, and on Lambda writes them as CloudWatch metrics. */
export function recordGauges(values: GaugeValues): void {
  const set = (g: Gauge, d: Definition<string>, entries: Record<string, number | null>) => {
    const label = d.labels[0] as string;
    g.reset();
    for (const [key, value] of Object.entries(entries)) {
      if (value === null) continue;
      g.set({ [label]: key }, value);
      emit({ [label]: key }, [{ name: d.name, unit: 'Count', value }]);
    }
  };
  const p = registryMetrics();
  set(p.tasks, METRICS.tasks, values.tasks);
  set(p.queueDepth, METRICS.queueDepth, values.queueDepth);
  set(p.deadLetters, METRICS.deadLetters, values.deadLetters);
}

/** The registry in Prometheus's text format, and its content type. */
export async function prometheusText(): Promise<{ contentType: string; body: string }> {
  const { registry } = registryMetrics();
  return { contentType: registry.contentType, body: await registry.metrics() };
}
