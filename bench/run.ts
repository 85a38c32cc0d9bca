import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import * as amqp from 'amqplib';
import autocannon from 'autocannon';
import { Queue as BullQueue, Worker as BullWorker } from 'bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';
import PgBoss from 'pg-boss';
import { config, parseConfig, resetConfig } from '#lib/config';
import { createDb, type Db } from '#lib/db/client';
import { migrateDatabase } from '#lib/db/migrate';
import { deleteOutboxRows } from '#lib/db/outbox';
import { insertQueuedTasks, newTaskId } from '#lib/db/tasks';
import { createQueue } from '#lib/queue/factory';
import type { Queue } from '#lib/queue/types';
import { encodeListCursor } from '#lib/tasks/schemas';
import { waitUntil, withTimeout } from '#lib/time';
import { createDatabase, dropDatabase } from '#local/pg-admin';
import { captureOutput, freePort, startBridgeProcess, startOffline, stopTree, waitForHttp } from '#local/process-tree';
import {
  type CpuSnapshot,
  cpuBetween,
  cpuOf,
  cpuSnapshot,
  machineBusyMs,
  type ProcessClass,
  peakRss,
  RABBITMQ_PROCESSES,
  REDIS_PROCESSES,
  resetPeakRss,
} from './procs';
import { CREATED_TITLE, deleteCreatedTasks, ensureScaleDatabase, SCALE_SEARCH, SCALE_TASKS } from './scale-db';

// `npm run bench [-- --quick] [-- --cpu-prof] [-- --only=api,pipeline,latency,pgboss,bullmq,sql,real,scale]`:
// runs every measurement side by side on the machine's PostgreSQL, RabbitMQ and Redis, prints one table and
// writes it as JSON under bench/results/. The machine is shared: the throughput drains of all systems run in
// interleaved rounds, so that load coming and going falls on all of them alike, and each ratio is the median of
// its per-round values, with its spread.

const ROOT = path.resolve(__dirname, '..');
const RESULTS = path.join(ROOT, 'bench/results');
const PROFILES = path.join(ROOT, 'bench/profiles');

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    'cpu-prof': { type: 'boolean', default: false },
    only: { type: 'string' },
  },
});
const QUICK = args.quick === true;
const STAMP = new Date().toISOString().replace(/[:.]/g, '-');
const ONLY = new Set((args.only ?? 'api,pipeline,latency,pgboss,bullmq,sql,real,scale').split(',').map((s) => s.trim()));

const SERVER_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const RABBITMQ_URL = process.env.RABBITMQ_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Most jobs pg-boss may hold at once (batch size times workers): a tenth of the backlog. */
const PG_BOSS_MAX_FETCHED = 1_000;
/** The service's defaults (lib/config.ts): the real workload runs with them. */
const DEFAULTS = parseConfig({});

const S = {
  /**
   * Slots (messages in hand) and messages per invocation of the bridge for the zero-length drains: 160 slots in
   * invocations of 10, as the 16 invocations of 10 that did best of 8 x 10, 16 x 10 and 8 x 25.
   */
  slots: 160,
  batchSize: 10,
  /** Interleaved rounds of the throughput drains (each system once a round). */
  rounds: QUICK ? 3 : 5,
  /** The backlog of each throughput drain. */
  backlog: 10_000,
  /**
   * Tasks drained before the measured runs, on each queue and by BullMQ: connections open and code compiled by the
   * JIT (the processor's CPU per task falls by a third over the first ~20,000). pg-boss gets its warm-up from the grid.
   */
  warmUp: QUICK ? 2_000 : 5_000,
  /** Further backlogs of the RabbitMQ pipeline (after the rounds), for memory as N grows. */
  rabbitSeries: QUICK ? [1_000] : [1_000, 50_000],
  /** The SQL ceiling: the three state changes of a task, this many rows a statement, on this many clients. */
  sqlClients: 8,
  sqlBatch: 100,
  sqlSeconds: QUICK ? 3 : 5,
  /** How long everything stands idle before the rounds, to check that nothing the benchmark started burns CPU. */
  idleSeconds: 3,
  apiConnections: 16,
  apiSeconds: QUICK ? 4 : 10,
  idleSamples: QUICK ? 60 : 200,
  loadRate: 200,
  loadSeconds: QUICK ? 4 : 10,
  // pg-boss: the best of these batch sizes and worker counts, holding at most PG_BOSS_MAX_FETCHED jobs at once (more
  // would hand it the whole backlog in one fetch). A pg-boss worker fetches at most once per polling interval (0.5 s
  // at least) unless it is notified, so polled it can do no more than batch x workers / 0.5 s; with `refetch` the
  // handler notifies its own worker after a full batch (pg-boss's notifyWorker), which then fetches again at once.
  pgBossGrid: (QUICK
    ? [
        { batchSize: 500, workers: 2, refetch: false },
        { batchSize: 20, workers: 8, refetch: true },
        { batchSize: 100, workers: 8, refetch: true },
      ]
    : [
        { batchSize: 100, workers: 4, refetch: false },
        { batchSize: 100, workers: 8, refetch: false },
        { batchSize: 500, workers: 2, refetch: false },
        { batchSize: 20, workers: 8, refetch: true },
        { batchSize: 50, workers: 4, refetch: true },
        { batchSize: 100, workers: 8, refetch: true },
      ]
  ).filter((g) => g.batchSize * g.workers <= PG_BOSS_MAX_FETCHED),
  bullConcurrency: 100,
  /**
   * The real workload: tasks of 1 s with the service's default settings (its slots: WORKER_CONCURRENCY), pg-boss
   * and BullMQ running as many 1 s jobs at once. Each round drains it once on each system (about 35 s each).
   */
  real: { tasks: 1_000, taskMs: 1_000, slots: DEFAULTS.WORKER_CONCURRENCY, rounds: QUICK ? 1 : 3 },
  /** The scale step: reads by this many clients for this long each, against 1,000,000 tasks. */
  scaleClients: 8,
  scaleSeconds: QUICK ? 5 : 10,
  /** Creates at 1,000,000 tasks and on an empty database: this many interleaved rounds each, of this long. */
  scaleRounds: QUICK ? 3 : 5,
  scaleRoundSeconds: 5,
  /** The reads' target: p95 under this. */
  scaleTargetP95Ms: 100,
};

const PAYLOAD = { duration_ms: 0, failure_rate: 0 };
const TASK_BODY = JSON.stringify({ title: CREATED_TITLE, payload: PAYLOAD });

// ---------------------------------------------------------------------------------------------------------------
// Things started, stopped on the way out (also on Ctrl-C).

const children = new Set<ChildProcess>();
const cleanups: Array<() => Promise<unknown>> = [];
let cleaning: Promise<void> | undefined;

function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    await Promise.allSettled([...children].map((c) => stopTree(c, 3_000)));
    for (const fn of cleanups.reverse()) await withTimeout(fn(), 15_000, 'cleanup').catch(() => {});
  })();
  return cleaning;
}

// ---------------------------------------------------------------------------------------------------------------
// Helpers.

const round = (n: number, digits = 0) => Math.round(n * 10 ** digits) / 10 ** digits;
const mb = (bytes: number) => round(bytes / 1024 / 1024);

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] as number;
}

/** The median; of an even count, the mean of the middle two. */
function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

function log(line: string) {
  process.stderr.write(`${line}\n`);
}

function version(pkg: string): string {
  return JSON.parse(readFileSync(path.join(ROOT, 'node_modules', pkg, 'package.json'), 'utf8')).version;
}

// ---------------------------------------------------------------------------------------------------------------
// The database of the run.

let pool: pg.Pool;
/** The service's own database handle, for its task insert. */
let tasksDb: Db;
let databaseUrl: string;
let databaseName: string;

async function createBenchDatabase(): Promise<void> {
  databaseName = `bench_${randomBytes(5).toString('hex')}`;
  databaseUrl = await createDatabase(SERVER_URL, databaseName);
  const name = databaseName;
  cleanups.push(() => dropDatabase(SERVER_URL, name));
  await migrateDatabase(databaseUrl);
  // This process's own queue clients (publishing backlogs, purging) take their settings from the config.
  Object.assign(process.env, { DATABASE_URL: databaseUrl, RABBITMQ_URL, QUEUE_PUBLISH_TIMEOUT_MS: '30000' });
  resetConfig();
  pool = new pg.Pool({ connectionString: databaseUrl, max: 10 });
  pool.on('error', () => {});
  cleanups.push(() => pool.end());
  const handle = createDb(databaseUrl, 2, 30_000);
  tasksDb = handle.db;
  cleanups.push(() => handle.pool.end());
}

async function resetTables(): Promise<void> {
  await pool.query('TRUNCATE tasks, task_events, outbox, queue_messages CASCADE');
  await pool.query('VACUUM ANALYZE tasks, task_events, outbox, queue_messages');
}

/**
 * Inserts `n` PENDING tasks with their events and returns their ids, as `POST /api/v1/tasks` leaves them: the
 * service's own insert (which also writes each task's outbox row), then the outbox rows deleted, as the service
 * deletes them once it has published. The caller publishes the messages.
 */
async function insertPendingTasks(n: number, payload: Record<string, unknown> = PAYLOAD): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i += 1_000) {
    const list = Array.from({ length: Math.min(1_000, n - i) }, () => ({
      id: newTaskId(),
      type: 'emulate',
      title: 'bench',
      description: null,
      priority: 'MEDIUM' as const,
      payload,
      max_attempts: config().DEFAULT_MAX_ATTEMPTS,
      timeout_ms: null,
      idempotency_key: null,
      request_hash: null,
    }));
    const inserted = await insertQueuedTasks(tasksDb, list, 0);
    await deleteOutboxRows(
      tasksDb,
      [...inserted.values()].map((t) => t.outbox_id as number),
    );
    ids.push(...inserted.keys());
  }
  return ids;
}

/** The first claim and the last completion among the tasks, in epoch milliseconds. */
async function runSpan(): Promise<{ first: number; last: number }> {
  const { rows } = await pool.query<{ first: number; last: number }>(
    'SELECT extract(epoch FROM min(started_at)) * 1000 AS first, extract(epoch FROM max(finished_at)) * 1000 AS last FROM tasks',
  );
  return { first: Number(rows[0]?.first), last: Number(rows[0]?.last) };
}

const countStatus = async (status: string): Promise<number> =>
  (await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM tasks WHERE status = $1', [status])).rows[0]?.n ?? 0;

/** Waits until `n` tasks are COMPLETED, asking every 250 ms (the same for every system: the asking costs all alike). */
const drained = (what: string, n: number, timeoutMs = Math.max(120_000, n * 10)) =>
  waitUntil(what, async () => (await countStatus('COMPLETED')) >= n, timeoutMs, 250);

// ---------------------------------------------------------------------------------------------------------------
// CPU per task: every process a system uses, read from /proc before and after its drain.

/** What a drain's CPU time is split into, ms per task: our node processes or the benchmark's own, and the servers. */
type CpuParts = Partial<Record<'offline' | 'bridge' | 'bench' | 'postgres' | 'rabbitmq' | 'redis', number>>;

interface CpuUse {
  /** CPU time per task over every process the system uses, ms. */
  cpu_ms_per_task: number;
  cpu_parts_ms_per_task: CpuParts;
  /** The whole machine's busy cores during the drain (all processes, others' work included): how loaded it was. */
  machine_busy_cores: number;
}

/**
 * Opens a CPU window: the processes of `classes` (and with `inProcess`, this process: the pg-boss and BullMQ
 * clients run here) from now until `close`.
 */
function cpuWindow(classes: Partial<Record<keyof CpuParts, ProcessClass>>, inProcess: boolean) {
  const before = cpuSnapshot();
  const self = process.cpuUsage();
  const busy = machineBusyMs();
  const t0 = Date.now();
  return {
    /** Closes the window over `n` tasks; `extra` adds CPU read otherwise from the closing snapshot (ms, whole drain). */
    close(n: number, extra: (after: CpuSnapshot) => CpuParts = () => ({})): CpuUse {
      const after = cpuSnapshot();
      const ms: CpuParts = {};
      for (const [name, cls] of Object.entries(classes) as Array<[keyof CpuParts, ProcessClass]>) {
        ms[name] = cpuBetween(before, after, cls);
      }
      if (inProcess) {
        const u = process.cpuUsage(self);
        ms.bench = (u.user + u.system) / 1000;
      }
      Object.assign(ms, extra(after));
      const parts = Object.fromEntries(Object.entries(ms).map(([k, v]) => [k, round(v / n, 3)])) as CpuParts;
      const total = Object.values(ms).reduce((a, b) => a + b, 0);
      return {
        cpu_ms_per_task: round(total / n, 3),
        cpu_parts_ms_per_task: parts,
        machine_busy_cores: round((machineBusyMs() - busy) / Math.max(1, Date.now() - t0), 2),
      };
    },
  };
}

const postgresProcesses = (): ProcessClass => ({ postgres: databaseName });

// ---------------------------------------------------------------------------------------------------------------
// serverless-offline and the bridge.

interface Offline {
  child: ChildProcess;
  baseUrl: string;
  env: NodeJS.ProcessEnv;
  output: () => string;
  queue: Queue;
}

/** Where a process writes its CPU profile with `--cpu-prof` (undefined without). */
function profileDir(name: string): string | undefined {
  if (!args['cpu-prof']) return undefined;
  const dir = path.join(PROFILES, `${STAMP}-${name}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

async function startService(driver: 'postgres' | 'rabbitmq', url = databaseUrl): Promise<Offline> {
  const [httpPort, lambdaPort] = [await freePort(), await freePort()];
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    NODE_ENV: 'production',
    LOG_LEVEL: 'WARN',
    API_KEYS: '',
    SLS_LOG_LEVEL: 'warning',
    DATABASE_URL: url,
    QUEUE_DRIVER: driver,
    QUEUE_NAMESPACE: `bench_${randomBytes(4).toString('hex')}`,
    RABBITMQ_URL,
    RABBITMQ_QUEUE_EXPIRES_MS: '600000',
    HTTP_PORT: String(httpPort),
    LAMBDA_PORT: String(lambdaPort),
    HTTP_HOST: '127.0.0.1',
    // The bridge's settings for the zero-length drains (the real workload and the latency run take the defaults).
    WORKER_CONCURRENCY: String(S.slots),
    WORKER_BATCH_SIZE: String(S.batchSize),
    OUTBOX_INTERVAL_MS: '60000',
  };
  const dir = profileDir(`offline-${driver}`);
  const child = startOffline(env, dir);
  children.add(child);
  const output = captureOutput(child);
  log(`  serverless-offline (${driver}) pid ${child.pid}`);
  const baseUrl = `http://127.0.0.1:${httpPort}`;
  try {
    await waitForHttp(`${baseUrl}/health`, 120_000, child);
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${output().slice(-3000)}`);
  }
  // A client on the service's queues (same namespace and queue arguments), to publish backlogs and purge.
  const queue = createQueue({ driver, namespace: env.QUEUE_NAMESPACE, databaseUrl: url, expiresMs: Number(env.RABBITMQ_QUEUE_EXPIRES_MS) });
  return { child, baseUrl, env, output, queue };
}

async function stopService(o: Offline): Promise<void> {
  await o.queue.close();
  await stopTree(o.child, 10_000);
  children.delete(o.child);
}

/** The bridge's settings as the service has them by default: the benchmark's own unset. */
const DEFAULT_BRIDGE = { WORKER_CONCURRENCY: undefined, WORKER_BATCH_SIZE: undefined, OUTBOX_INTERVAL_MS: undefined };

async function startBridge(o: Offline, { profileName, env = {} }: { profileName?: string; env?: NodeJS.ProcessEnv } = {}) {
  const merged = { ...o.env, ...env };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete merged[k];
  const bridge = await startBridgeProcess(merged, { profileDir: profileName ? profileDir(profileName) : undefined });
  children.add(bridge.child);
  return {
    ...bridge,
    async stop() {
      await stopTree(bridge.child, 15_000);
      children.delete(bridge.child);
    },
  };
}

/** Publishes the run messages of tasks as the service does (`{ task_id }`, MEDIUM priority). */
async function publishTasks(o: Offline, ids: string[]): Promise<void> {
  for (let i = 0; i < ids.length; i += 1_000) {
    await o.queue.publish(
      'tasks',
      ids.slice(i, i + 1_000).map((id) => ({ body: JSON.stringify({ task_id: id }), priority: 5 })),
    );
  }
}

const purgeQueue = (o: Offline) => o.queue.purge('tasks');

type Queued = 'embedded' | 'rabbitmq';
const queueOf = (o: Offline): Queued => (o.env.QUEUE_DRIVER === 'postgres' ? 'embedded' : 'rabbitmq');

interface Drain extends CpuUse {
  n: number;
  tasks_per_s: number;
  seconds: number;
}

interface PipelineRow extends Drain {
  queue: Queued;
  /** Peak RSS of serverless-offline (its whole process group) and of the bridge during the drain. */
  peak_rss_mb: { offline: number; bridge: number };
}

/**
 * Drains a backlog of `n` tasks through the queue, the bridge and the processor to COMPLETED. The CPU window opens
 * before the bridge starts, for serverless-offline and the servers, and for the bridge when it says it consumes
 * (its own start, loading its code, is not the tasks' cost).
 */
async function pipelineRun(
  o: Offline,
  n: number,
  { payload = PAYLOAD, profileName, env }: { payload?: Record<string, unknown>; profileName?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<PipelineRow> {
  await resetTables();
  await purgeQueue(o);
  const ids = await insertPendingTasks(n, payload);
  await publishTasks(o, ids);
  const queue = queueOf(o);
  resetPeakRss(o.child.pid);
  const window = cpuWindow(
    {
      offline: { groups: [o.child.pid] },
      postgres: postgresProcesses(),
      ...(queue === 'rabbitmq' ? { rabbitmq: RABBITMQ_PROCESSES } : {}),
    },
    false,
  );
  const bridge = await startBridge(o, { profileName, env });
  const consuming = Date.now();
  const bridgeGroup: ProcessClass = { groups: [bridge.child.pid] };
  const bridgeAtStart = cpuOf(cpuSnapshot(), bridgeGroup);
  let cpu: CpuUse;
  let rss: PipelineRow['peak_rss_mb'];
  try {
    await drained(`draining ${n} tasks`, n);
    cpu = window.close(n, (after) => ({ bridge: cpuOf(after, bridgeGroup) - bridgeAtStart }));
    rss = { offline: mb(peakRss(o.child.pid)), bridge: mb(peakRss(bridge.child.pid)) };
  } catch (err) {
    throw new Error(
      `${(err as Error).message}\n--- bridge ---\n${bridge.output().slice(-2000)}\n--- offline ---\n${o.output().slice(-2000)}`,
    );
  } finally {
    await bridge.stop();
  }
  // From the first claim (or the bridge saying it consumes, if earlier) to the last completion.
  const span = await runSpan();
  const ms = span.last - Math.min(consuming, span.first);
  const row: PipelineRow = { queue, n, tasks_per_s: round((n / ms) * 1000), seconds: round(ms / 1000, 2), ...cpu, peak_rss_mb: rss };
  log(
    `  pipeline ${queue} n=${n}: ${row.tasks_per_s} tasks/s, CPU per task ${row.cpu_ms_per_task} ms ${JSON.stringify(row.cpu_parts_ms_per_task)}` +
      ` (machine ${row.machine_busy_cores} cores busy; rss offline ${rss.offline} MB, bridge ${rss.bridge} MB)`,
  );
  return row;
}
// ---------------------------------------------------------------------------------------------------------------
// API through serverless-offline, against a trivial function behind the same gateway.

interface HttpRow {
  requests_per_s: number;
  p50_ms: number;
  p99_ms: number;
  non_2xx: number;
  errors: number;
}

async function cannon(url: string, method: 'GET' | 'POST', seconds: number, body?: string): Promise<HttpRow> {
  const result = await withTimeout(
    autocannon({
      url,
      method,
      connections: S.apiConnections,
      duration: seconds,
      headers: body ? { 'content-type': 'application/json' } : {},
      body,
    }),
    (seconds + 30) * 1000,
    `load on ${url}`,
  );
  return {
    requests_per_s: round(result.requests.average),
    p50_ms: result.latency.p50,
    p99_ms: result.latency.p99,
    non_2xx: result.non2xx,
    errors: result.errors,
  };
}

async function apiBench(o: Offline) {
  const create = `${o.baseUrl}/api/v1/tasks`;
  const ping = `${o.baseUrl}/bench/ping`;
  // Warm-up: both functions loaded, their code compiled by the JIT, their pools and connections open.
  for (const [url, method, body] of [
    [create, 'POST', TASK_BODY],
    [create, 'POST', TASK_BODY],
    [ping, 'POST', TASK_BODY],
    [ping, 'POST', TASK_BODY],
  ] as const) {
    const w = await cannon(url, method, 3, body);
    log(`  warm-up ${method} ${url}: ${w.requests_per_s} req/s`);
  }
  // The same request to a function that does nothing: what the gateway itself costs for it.
  const gateway = await cannon(ping, 'POST', S.apiSeconds, TASK_BODY);
  const api = await cannon(create, 'POST', S.apiSeconds, TASK_BODY);
  log(`  gateway ${gateway.requests_per_s} req/s, create ${api.requests_per_s} req/s`);
  await purgeQueue(o);
  await resetTables();
  return { connections: S.apiConnections, seconds: S.apiSeconds, create: api, gateway };
}

// ---------------------------------------------------------------------------------------------------------------
// Create to IN_PROGRESS, idle and under a steady load.

async function postTask(baseUrl: string): Promise<string> {
  const res = await fetch(`${baseUrl}/api/v1/tasks`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: TASK_BODY,
    signal: AbortSignal.timeout(30_000),
  });
  const body = (await res.json()) as { id: string };
  if (res.status !== 201) throw new Error(`create answered ${res.status}: ${JSON.stringify(body)}`);
  return body.id;
}

async function startLatencies(ids: string[]): Promise<number[]> {
  await waitUntil(
    'tasks starting',
    async () => {
      const { rows } = await pool.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM tasks WHERE id = ANY($1) AND started_at IS NOT NULL',
        [ids],
      );
      return (rows[0]?.n ?? 0) >= ids.length;
    },
    60_000,
    100,
  );
  const { rows } = await pool.query<{ ms: number }>(
    'SELECT extract(epoch FROM started_at - created_at) * 1000 AS ms FROM tasks WHERE id = ANY($1)',
    [ids],
  );
  return rows.map((r) => Number(r.ms)).sort((a, b) => a - b);
}

/** A steady, open-loop load: S.loadRate creates per second, spread over 10 ms ticks; their create-to-start times. */
async function loadLatencies(o: Offline): Promise<number[]> {
  const loadIds: Promise<string>[] = [];
  const ticks = (S.loadSeconds * 1000) / 10;
  const perTick = S.loadRate / 100;
  let owed = 0;
  const started = Date.now();
  for (let t = 0; t < ticks; t++) {
    owed += perTick;
    for (; owed >= 1; owed--) loadIds.push(postTask(o.baseUrl));
    const next = started + (t + 1) * 10;
    await sleep(Math.max(0, next - Date.now()));
  }
  return startLatencies(await Promise.all(loadIds));
}

/**
 * Idle and under load with the bridge's default settings (slots, one message per invocation), as the service runs;
 * under load also with the zero-length drains' settings (160 slots, invocations of 10), for comparison.
 */
async function latencyBench(o: Offline) {
  await resetTables();
  const r = (xs: number[], p: number) => round(percentile(xs, p), 1);
  let bridge = await startBridge(o, { env: DEFAULT_BRIDGE });
  let idle: number[];
  let load: number[];
  try {
    for (let i = 0; i < 20; i++) await postTask(o.baseUrl); // warm-up
    const idleIds: string[] = [];
    for (let i = 0; i < S.idleSamples; i++) {
      idleIds.push(await postTask(o.baseUrl));
      await sleep(25);
    }
    idle = await startLatencies(idleIds);
    load = await loadLatencies(o);
  } finally {
    await bridge.stop();
  }
  await resetTables();
  bridge = await startBridge(o);
  let batched: number[];
  try {
    for (let i = 0; i < 20; i++) await postTask(o.baseUrl); // warm-up
    batched = await loadLatencies(o);
  } finally {
    await bridge.stop();
  }
  const result = {
    idle_p50: r(idle, 50),
    idle_p99: r(idle, 99),
    load_p50: r(load, 50),
    load_p99: r(load, 99),
    load_batched_p50: r(batched, 50),
    load_batched_p99: r(batched, 99),
    idle_samples: idle.length,
    load_samples: load.length,
    load_rate_per_s: S.loadRate,
  };
  log(
    `  latency idle p50 ${result.idle_p50} p99 ${result.idle_p99}; load p50 ${result.load_p50} p99 ${result.load_p99} ms;` +
      ` load with ${S.slots} slots in invocations of ${S.batchSize}: p50 ${result.load_batched_p50} p99 ${result.load_batched_p99} ms`,
  );
  return result;
}

// ---------------------------------------------------------------------------------------------------------------
// pg-boss, BullMQ and the bare SQL, each recording completion in a task row as the processor does.

// What a competitor's handler writes per job: the task row COMPLETED and its two events, as the processor records them.
const COMPLETE_SQL = `
  WITH u AS (
    UPDATE tasks SET status = 'COMPLETED', started_at = now(), finished_at = now(), updated_at = now(),
      attempts = attempts + 1, progress = 100, result = '{"slept_ms":0}'::jsonb
    WHERE id = ANY($1::uuid[]) AND status = 'PENDING'
    RETURNING id, updated_at
  )
  INSERT INTO task_events (task_id, from_status, to_status, at, reason)
  SELECT id, 'PENDING'::task_status, 'IN_PROGRESS'::task_status, updated_at, 'started' FROM u
  UNION ALL
  SELECT id, 'IN_PROGRESS'::task_status, 'COMPLETED'::task_status, updated_at, 'completed' FROM u`;

/** A competitor's job of `ms`: waited in ten steps, as the `emulate` task type does (it reports progress at each). */
async function jobWork(ms: number): Promise<void> {
  if (ms > 0) for (let step = 0; step < 10; step++) await sleep(ms / 10);
}

interface PgBossOptions {
  batchSize: number;
  workers: number;
  /** After a full batch, wake the worker to fetch again at once instead of after its polling interval. */
  refetch?: boolean;
  /** How long each job runs (0: the zero-length drains). */
  taskMs?: number;
}

/** Drains `n` jobs with pg-boss; the CPU window holds this process (pg-boss's client and handlers) and PostgreSQL. */
async function pgBossRun(n: number, { batchSize, workers, refetch = false, taskMs = 0 }: PgBossOptions): Promise<Drain> {
  await resetTables();
  const ids = await insertPendingTasks(n);
  const boss = new PgBoss({
    connectionString: databaseUrl,
    schema: 'pgboss',
    max: Math.min(workers + 2, 20),
    supervise: false,
    schedule: false,
  });
  boss.on('error', () => {});
  await boss.start();
  const name = `bench_${randomBytes(3).toString('hex')}`;
  await boss.createQueue(name);
  for (let i = 0; i < ids.length; i += 1_000) {
    await boss.insert(ids.slice(i, i + 1_000).map((id) => ({ name, data: { task_id: id } })));
  }
  const window = cpuWindow({ postgres: postgresProcesses() }, true);
  const first = Date.now();
  let cpu: CpuUse;
  try {
    for (let w = 0; w < workers; w++) {
      const id = await boss.work<{ task_id: string }>(name, { batchSize, pollingIntervalSeconds: 0.5 }, async (jobs) => {
        await jobWork(taskMs);
        await pool.query(COMPLETE_SQL, [jobs.map((j) => j.data.task_id)]);
        if (refetch && jobs.length === batchSize) boss.notifyWorker(id);
      });
    }
    await drained(`pg-boss draining ${n}`, n);
    cpu = window.close(n);
  } finally {
    await boss.stop({ graceful: false, wait: true, timeout: 5_000 }).catch(() => {});
  }
  const ms = (await runSpan()).last - first;
  await pool.query('DROP SCHEMA pgboss CASCADE');
  return { n, tasks_per_s: round((n / ms) * 1000), seconds: round(ms / 1000, 2), ...cpu };
}

/** pg-boss's best of the grid (the runs also warm it up), for the rounds. */
async function pgBossGrid(n: number) {
  const trials = [];
  for (const cfg of S.pgBossGrid) {
    const r = await pgBossRun(n, cfg);
    trials.push({ batch_size: cfg.batchSize, workers: cfg.workers, refetch: cfg.refetch, n, tasks_per_s: r.tasks_per_s });
    log(`  pg-boss batch ${cfg.batchSize} x ${cfg.workers} workers${cfg.refetch ? ', refetch' : ''}: ${r.tasks_per_s} tasks/s`);
  }
  const best = trials.reduce((a, b) => (b.tasks_per_s > a.tasks_per_s ? b : a));
  return { batchSize: best.batch_size, workers: best.workers, refetch: best.refetch, trials };
}

/** Drains `n` jobs with BullMQ; the CPU window holds this process (BullMQ's client and handlers), Redis and PostgreSQL. */
async function bullRun(n: number, { concurrency, taskMs = 0 }: { concurrency: number; taskMs?: number }): Promise<Drain> {
  await resetTables();
  const ids = await insertPendingTasks(n);
  // BullMQ wants maxRetriesPerRequest: null on the connections it blocks on.
  const producer = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const consumer = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const prefix = `bench-${randomBytes(4).toString('hex')}`;
  const queue = new BullQueue('tasks', { connection: producer as never, prefix });
  let worker: BullWorker | undefined;
  try {
    for (let i = 0; i < ids.length; i += 1_000) {
      await queue.addBulk(
        ids.slice(i, i + 1_000).map((id) => ({ name: 'run', data: { task_id: id }, opts: { removeOnComplete: true, removeOnFail: true } })),
      );
    }
    // Completions are written in groups: whatever jobs finish while a write is under way go in the next one.
    let pending: Array<{ id: string; done: () => void; fail: (e: Error) => void }> = [];
    let writing = 0;
    const flush = () => {
      if (writing >= 4 || pending.length === 0) return;
      const group = pending;
      pending = [];
      writing++;
      pool
        .query(COMPLETE_SQL, [group.map((g) => g.id)])
        .then(
          () => {
            for (const g of group) g.done();
          },
          (e) => {
            for (const g of group) g.fail(e);
          },
        )
        .finally(() => {
          writing--;
          flush();
        });
    };
    const window = cpuWindow({ postgres: postgresProcesses(), redis: REDIS_PROCESSES }, true);
    const first = Date.now();
    worker = new BullWorker(
      'tasks',
      async (job) => {
        await jobWork(taskMs);
        await new Promise<void>((done, fail) => {
          pending.push({ id: job.data.task_id, done, fail });
          flush();
        });
      },
      { connection: consumer as never, prefix, concurrency },
    );
    worker.on('error', () => {});
    await drained(`BullMQ draining ${n}`, n);
    const cpu = window.close(n);
    const ms = (await runSpan()).last - first;
    return { n, tasks_per_s: round((n / ms) * 1000), seconds: round(ms / 1000, 2), ...cpu };
  } finally {
    await worker?.close(true).catch(() => {});
    await queue.obliterate({ force: true }).catch(() => {});
    await queue.close().catch(() => {});
    producer.disconnect();
    consumer.disconnect();
  }
}

// The three state changes of a task, `S.sqlBatch` tasks a statement, each with its event as the service records it.
const CEILING_INSERT = `
  WITH t AS (
    INSERT INTO tasks (type, title, priority, payload, status)
    SELECT 'emulate', 'bench', 'MEDIUM', $1::jsonb, 'PENDING' FROM generate_series(1, $2::int)
    RETURNING id, updated_at
  ),
  e AS (INSERT INTO task_events (task_id, from_status, to_status, at, reason) SELECT id, NULL, 'PENDING', updated_at, 'queued' FROM t)
  SELECT id FROM t`;
const CEILING_CLAIM = `
  WITH u AS (
    UPDATE tasks SET status = 'IN_PROGRESS', started_at = now(), heartbeat_at = now(), attempts = attempts + 1, updated_at = now()
    WHERE id = ANY($1::uuid[]) AND status = 'PENDING'
    RETURNING id, updated_at
  )
  INSERT INTO task_events (task_id, from_status, to_status, at, reason)
  SELECT id, 'PENDING', 'IN_PROGRESS', updated_at, 'started' FROM u`;
const CEILING_COMPLETE = `
  WITH u AS (
    UPDATE tasks SET status = 'COMPLETED', finished_at = now(), heartbeat_at = NULL, progress = 100,
      result = '{"slept_ms":0}'::jsonb, updated_at = now()
    WHERE id = ANY($1::uuid[]) AND status = 'IN_PROGRESS'
    RETURNING id, updated_at
  )
  INSERT INTO task_events (task_id, from_status, to_status, at, reason)
  SELECT id, 'IN_PROGRESS', 'COMPLETED', updated_at, 'completed' FROM u`;

/**
 * The most PostgreSQL does here for the three state changes of a task (inserted PENDING, claimed, completed, each
 * with its event), with no queue at all: `S.sqlBatch` tasks a statement, autocommit, on `S.sqlClients` clients,
 * for `S.sqlSeconds`. It includes the insert, which the drains do not (their tasks are inserted beforehand).
 */
async function sqlCeiling(seconds = S.sqlSeconds): Promise<Drain & { clients: number; batch: number }> {
  await resetTables();
  const clients = await Promise.all(
    Array.from({ length: S.sqlClients }, async () => {
      const c = new pg.Client({ connectionString: databaseUrl });
      await c.connect();
      return c;
    }),
  );
  let done = 0;
  const window = cpuWindow({ postgres: postgresProcesses() }, true);
  const started = Date.now();
  const deadline = started + seconds * 1000;
  let cpu: CpuUse;
  try {
    await Promise.all(
      clients.map(async (c) => {
        while (Date.now() < deadline) {
          const { rows } = await c.query<{ id: string }>(CEILING_INSERT, [JSON.stringify(PAYLOAD), S.sqlBatch]);
          const ids = rows.map((r) => r.id);
          await c.query(CEILING_CLAIM, [ids]);
          await c.query(CEILING_COMPLETE, [ids]);
          done += ids.length;
        }
      }),
    );
    cpu = window.close(Math.max(1, done));
  } finally {
    await Promise.all(clients.map((c) => c.end()));
  }
  const ms = Date.now() - started;
  return {
    clients: S.sqlClients,
    batch: S.sqlBatch,
    n: done,
    tasks_per_s: round((done / ms) * 1000),
    seconds: round(ms / 1000, 2),
    ...cpu,
  };
}
// ---------------------------------------------------------------------------------------------------------------
// Cost as the data grows: reads against 1,000,000 tasks, and creates there against creates on an empty database.

interface ReadRow {
  p50: number;
  p95: number;
  p99: number;
  rps: number;
  requests: number;
  non_2xx: number;
  errors: number;
}

/** `S.scaleClients` clients asking `url` back to back for `seconds`; each response's time kept for the percentiles. */
async function readLoad(url: string, seconds: number, post?: string): Promise<ReadRow> {
  const times: number[] = [];
  // autocannon's summary has no p95: the percentiles come from every response's time.
  const run = new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url,
        connections: S.scaleClients,
        duration: seconds,
        timeout: 60,
        ...(post ? { method: 'POST' as const, body: post, headers: { 'content-type': 'application/json' } } : {}),
      },
      (err, result) => (err ? reject(err) : resolve(result)),
    );
    instance.on('response', (_client, _status, _bytes, ms) => times.push(ms));
  });
  const result = await withTimeout(run, (seconds + 90) * 1000, `load on ${url}`);
  times.sort((a, b) => a - b);
  const p = (q: number) => round(percentile(times, q), 1);
  return {
    p50: p(50),
    p95: p(95),
    p99: p(99),
    rps: round(times.length / seconds, 1),
    requests: times.length,
    non_2xx: result.non2xx,
    errors: result.errors + result.timeouts,
  };
}

/** The cursor of the page after the task at `position` (1-based) of the newest-first order: what next_cursor gives there. */
async function cursorAt(url: string, position: number): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ created_at: Date; id: string }>(
      'SELECT created_at, id FROM tasks ORDER BY created_at DESC NULLS LAST, id DESC NULLS LAST OFFSET $1 LIMIT 1',
      [position - 1],
    );
    const at = rows[0];
    if (!at) throw new Error(`no task at position ${position}`);
    return encodeListCursor({ created_at: at.created_at.toISOString(), id: at.id });
  } finally {
    await client.end();
  }
}

type ScaleReadName =
  | 'gateway'
  | 'list_default'
  | 'list_status_failed'
  | 'search_rare'
  | 'search_frequent'
  | 'stats'
  | 'cursor_deep'
  | 'offset_deep';
type ScaleRead = ReadRow & { path: string; answer: string; target: boolean };

async function scaleBench() {
  log(`scale: a database of ${SCALE_TASKS} tasks`);
  const scaleDb = await ensureScaleDatabase(SERVER_URL, log);
  const emptyName = `bench_empty_${randomBytes(5).toString('hex')}`;
  const emptyUrl = await createDatabase(SERVER_URL, emptyName);
  cleanups.push(() => dropDatabase(SERVER_URL, emptyName));
  await migrateDatabase(emptyUrl);
  const deep = SCALE_TASKS - 1_000;
  const reads: Record<ScaleReadName, { path: string; target: boolean }> = {
    // For reference: what the gateway alone costs at the same concurrency (a function that does nothing).
    gateway: { path: '/bench/ping', target: false },
    list_default: { path: '/api/v1/tasks', target: true },
    list_status_failed: { path: '/api/v1/tasks?status=FAILED', target: true },
    search_rare: { path: `/api/v1/tasks?search=${SCALE_SEARCH.rare}`, target: true },
    search_frequent: { path: `/api/v1/tasks?search=${SCALE_SEARCH.frequent}`, target: true },
    stats: { path: '/api/v1/stats', target: true },
    cursor_deep: { path: `/api/v1/tasks?cursor=${await cursorAt(scaleDb.url, deep)}`, target: true },
    // For reference: an offset walks past every task before it.
    offset_deep: { path: `/api/v1/tasks?offset=${deep}`, target: false },
  };
  log('scale: starting serverless-offline on the 1 M database');
  const big = await startService('rabbitmq', scaleDb.url);
  let empty: Offline | undefined;
  const measured = {} as Record<ScaleReadName, ScaleRead>;
  const answers = {} as Record<ScaleReadName, string>;
  const entries = Object.entries(reads) as Array<[ScaleReadName, { path: string; target: boolean }]>;
  const rounds: { at_1m: number[]; empty: number[] } = { at_1m: [], empty: [] };
  try {
    for (const [name, r] of entries) {
      // Each answers, and answers what it should (the search terms do match).
      const ping = name === 'gateway';
      const res = await fetch(`${big.baseUrl}${r.path}`, {
        signal: AbortSignal.timeout(60_000),
        ...(ping ? { method: 'POST', body: TASK_BODY, headers: { 'content-type': 'application/json' } } : {}),
      });
      const body = (await res.json()) as { total?: number; total_exact?: boolean; items?: unknown[] };
      if (res.status !== 200) throw new Error(`GET ${r.path} answered ${res.status}: ${JSON.stringify(body).slice(0, 500)}`);
      const answer =
        body.total === undefined
          ? 'ok'
          : `${body.items ? `${body.items.length} items, ` : ''}total ${body.total}${body.total_exact === false ? ' (at least)' : ''}`;
      log(`  ${name}: ${answer}`);
      answers[name] = answer;
    }
    // Warm-up: the functions loaded, compiled by the JIT, their pools open.
    await readLoad(`${big.baseUrl}/bench/ping`, 2, TASK_BODY);
    for (const path of ['/api/v1/tasks', '/api/v1/stats']) await readLoad(`${big.baseUrl}${path}`, 3);
    for (const [name, r] of entries) {
      const row = await readLoad(`${big.baseUrl}${r.path}`, S.scaleSeconds, name === 'gateway' ? TASK_BODY : undefined);
      measured[name] = { ...row, path: r.path, answer: answers[name], target: r.target };
      log(`  ${name}: p50 ${row.p50} p95 ${row.p95} p99 ${row.p99} ms, ${row.rps} req/s (${row.non_2xx} non-2xx, ${row.errors} errors)`);
    }
    // Creates, the same load on both databases, rounds interleaved so that the machine's swings fall on both alike.
    log('scale: starting serverless-offline on an empty database');
    empty = await startService('rabbitmq', emptyUrl);
    const create = (o: Offline, seconds: number) => cannon(`${o.baseUrl}/api/v1/tasks`, 'POST', seconds, TASK_BODY);
    for (const o of [big, empty, big, empty]) await create(o, 3);
    for (let i = 0; i < S.scaleRounds; i++) {
      for (const [side, o] of [
        ['at_1m', big],
        ['empty', empty],
      ] as const) {
        const r = await create(o, S.scaleRoundSeconds);
        if (r.non_2xx || r.errors) throw new Error(`creates on ${side}: ${r.non_2xx} non-2xx, ${r.errors} errors`);
        rounds[side].push(r.requests_per_s);
      }
      log(`  creates round ${i + 1}: 1 M ${rounds.at_1m.at(-1)} req/s, empty ${rounds.empty.at(-1)} req/s`);
    }
  } finally {
    for (const o of [big, empty]) {
      if (!o) continue;
      await purgeQueue(o).catch(() => {});
      await stopService(o);
    }
    // The 1 M database back as it was made, for the next run.
    await deleteCreatedTasks(scaleDb.url);
  }
  const at1m = median(rounds.at_1m);
  const atEmpty = median(rounds.empty);
  const spread = (xs: number[]) => ({
    min: Math.min(...xs),
    max: Math.max(...xs),
    relative: round((Math.max(...xs) - Math.min(...xs)) / median(xs), 2),
  });
  const events = new pg.Client({ connectionString: scaleDb.url });
  await events.connect();
  const eventCount = Number((await events.query("SELECT reltuples::bigint AS n FROM pg_class WHERE relname = 'task_events'")).rows[0]?.n);
  await events.end();
  return {
    tasks: SCALE_TASKS,
    events_estimate: eventCount,
    made_s: scaleDb.made_s,
    clients: S.scaleClients,
    seconds: S.scaleSeconds,
    target_p95_ms: S.scaleTargetP95Ms,
    search_terms: SCALE_SEARCH,
    ...measured,
    creates: {
      connections: S.apiConnections,
      round_seconds: S.scaleRoundSeconds,
      rounds,
      median_1m: at1m,
      median_empty: atEmpty,
      spread_1m: spread(rounds.at_1m),
      spread_empty: spread(rounds.empty),
    },
    create_ratio_1m_vs_empty: ratio(at1m, atEmpty),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Rounds, ratios and targets.

type System = 'rabbitmq' | 'embedded' | 'pgboss' | 'bullmq' | 'sql_ceiling';
type RealSystem = Exclude<System, 'sql_ceiling'>;
const NAMES: Record<System, string> = {
  rabbitmq: 'pipeline, RabbitMQ',
  embedded: 'pipeline, embedded queue',
  pgboss: 'pg-boss',
  bullmq: 'BullMQ',
  sql_ceiling: 'SQL ceiling',
};

type RealDrain = Drain & { slot_utilization: number };
type Summary = { tasks_per_s: number; seconds: number; cpu_ms_per_task: number; cpu_parts_ms_per_task: CpuParts };

/** Each system's medians over the rounds it ran in. */
function summarize<K extends string>(rounds: Array<Partial<Record<K, Drain>>>): Partial<Record<K, Summary>> {
  const out: Partial<Record<K, Summary>> = {};
  const keys = new Set(rounds.flatMap((r) => Object.keys(r) as K[]));
  for (const k of keys) {
    const drains = rounds.map((r) => r[k]).filter((d): d is Drain => d !== undefined);
    const parts = new Set(drains.flatMap((d) => Object.keys(d.cpu_parts_ms_per_task) as Array<keyof CpuParts>));
    out[k] = {
      tasks_per_s: round(median(drains.map((d) => d.tasks_per_s))),
      seconds: round(median(drains.map((d) => d.seconds)), 2),
      cpu_ms_per_task: round(median(drains.map((d) => d.cpu_ms_per_task)), 3),
      cpu_parts_ms_per_task: Object.fromEntries(
        [...parts].map((p) => [p, round(median(drains.map((d) => d.cpu_parts_ms_per_task[p] ?? 0)), 3)]),
      ) as CpuParts,
    };
  }
  return out;
}

function ratio(a: number | undefined, b: number | undefined): number | null {
  return a && b ? round(a / b, 2) : null;
}

/** The ratios of one round of the throughput drains. */
function throughputRatios(r: Partial<Record<System, Drain>>): Record<string, number | null> {
  const tps = (s: System) => r[s]?.tasks_per_s;
  const cpu = (s: System) => r[s]?.cpu_ms_per_task;
  return {
    pipeline_rabbitmq_vs_pgboss: ratio(tps('rabbitmq'), tps('pgboss')),
    pipeline_rabbitmq_vs_bullmq: ratio(tps('rabbitmq'), tps('bullmq')),
    pipeline_rabbitmq_vs_sql_ceiling: ratio(tps('rabbitmq'), tps('sql_ceiling')),
    pipeline_embedded_vs_pgboss: ratio(tps('embedded'), tps('pgboss')),
    pipeline_embedded_vs_bullmq: ratio(tps('embedded'), tps('bullmq')),
    pipeline_rabbitmq_vs_embedded: ratio(tps('rabbitmq'), tps('embedded')),
    cpu_per_task_vs_pgboss: ratio(cpu('rabbitmq'), cpu('pgboss')),
    cpu_per_task_embedded_vs_pgboss: ratio(cpu('embedded'), cpu('pgboss')),
    cpu_per_task_vs_bullmq: ratio(cpu('rabbitmq'), cpu('bullmq')),
  };
}

function realRatios(r: Partial<Record<RealSystem, RealDrain>>): Record<string, number | null> {
  return {
    slot_utilization: r.rabbitmq?.slot_utilization ?? null,
    slot_utilization_embedded: r.embedded?.slot_utilization ?? null,
    slot_utilization_pgboss: r.pgboss?.slot_utilization ?? null,
    slot_utilization_bullmq: r.bullmq?.slot_utilization ?? null,
  };
}

type Target = { what: string; value: number | null; op: '>=' | '<=' | '<'; target: number; met: boolean | null };

function check(what: string, value: number | null | undefined, op: Target['op'], target: number): Target {
  const v = value ?? null;
  const met = v === null || Number.isNaN(v) ? null : op === '>=' ? v >= target : op === '<=' ? v <= target : v < target;
  return { what, value: v, op, target, met };
}

/** The targets of the issue that set them: throughput, CPU, slots and latency (medians), and every spread <= 1.3. */
function targets(r: Report): Target[] {
  const list = [
    check('pipeline_rabbitmq_vs_pgboss', r.ratios.pipeline_rabbitmq_vs_pgboss, '>=', 2),
    check('pipeline_embedded_vs_pgboss', r.ratios.pipeline_embedded_vs_pgboss, '>=', 1.5),
    check('pipeline_rabbitmq_vs_bullmq', r.ratios.pipeline_rabbitmq_vs_bullmq, '>=', 0.8),
    check('cpu_per_task_vs_pgboss', r.ratios.cpu_per_task_vs_pgboss, '<=', 0.7),
    check('slot_utilization', r.ratios.slot_utilization, '>=', 0.9),
    check('slot_utilization_embedded', r.ratios.slot_utilization_embedded, '>=', 0.9),
    check('latency_ms.idle_p50', r.latency_ms?.idle_p50, '<', 20),
    check('latency_ms.idle_p99', r.latency_ms?.idle_p99, '<', 100),
  ];
  for (const [k, v] of Object.entries(r.spread)) if (v !== null) list.push(check(`spread.${k}`, v, '<=', 1.3));
  return list.filter((t) => t.value !== null);
}

// ---------------------------------------------------------------------------------------------------------------
// Versions and the report.

async function serverVersions() {
  const pgVersion = (await pool.query<{ v: string }>("SELECT current_setting('server_version') AS v")).rows[0]?.v ?? '?';
  let rabbit = '?';
  try {
    const conn = await amqp.connect(RABBITMQ_URL, { timeout: 5_000 });
    rabbit = String((conn.connection as unknown as { serverProperties?: { version?: string } }).serverProperties?.version ?? '?');
    await conn.close();
  } catch {}
  let redis = '?';
  try {
    const c = new Redis(REDIS_URL, { lazyConnect: true, connectTimeout: 5_000, maxRetriesPerRequest: 1 });
    await withTimeout(c.connect(), 5_000, 'Redis');
    const info = await c.info('server');
    redis = /redis_version:(\S+)/.exec(info)?.[1] ?? '?';
    c.disconnect();
  } catch {}
  return {
    node: process.version,
    postgresql: pgVersion,
    rabbitmq: rabbit,
    redis,
    'serverless-offline': version('serverless-offline'),
    'pg-boss': version('pg-boss'),
    bullmq: version('bullmq'),
    autocannon: version('autocannon'),
  };
}

const fmtParts = (p: CpuParts) =>
  Object.entries(p)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');

function printTable(r: Report) {
  const lines: string[] = [];
  const cell = (s: string | number, w: number, right = false) => (right ? String(s).padStart(w) : String(s).padEnd(w));
  const row = (what: string, value: string, note = '') => lines.push(`| ${cell(what, 44)} | ${cell(value, 16, true)} | ${note}`);
  lines.push(`Benchmark ${r.at}  ${r.machine.cores} cores (${r.machine.cpu}), ${r.mode} run`);
  lines.push(
    Object.entries(r.versions)
      .map(([k, v]) => `${k} ${v}`)
      .join(', '),
  );
  if (r.idle_cpu_ms_per_s) {
    lines.push(`CPU while all stood idle before the rounds, ms per s: ${fmtParts(r.idle_cpu_ms_per_s)} (the servers' include other work)`);
  }
  const t = r.throughput;
  if (t) {
    lines.push('');
    lines.push(
      `Throughput: backlogs of ${t.n} zero-length tasks, ${t.rounds.length} rounds interleaved (each system once a round, order rotated)`,
    );
    lines.push(
      `| ${cell('system', 26)} | ${cell('tasks/s', 8, true)} | ${cell('rounds', 22)} | ${cell('CPU ms/task', 11, true)} | CPU parts, ms/task`,
    );
    lines.push(`|${'-'.repeat(28)}|${'-'.repeat(10)}|${'-'.repeat(24)}|${'-'.repeat(13)}|------`);
    for (const [s, m] of Object.entries(t.median) as Array<[System, Summary]>) {
      const each = t.rounds.map((x) => x[s]?.tasks_per_s ?? '-').join(', ');
      lines.push(
        `| ${cell(NAMES[s], 26)} | ${cell(m.tasks_per_s, 8, true)} | ${cell(each, 22)} | ${cell(m.cpu_ms_per_task, 11, true)} | ${fmtParts(m.cpu_parts_ms_per_task)}`,
      );
    }
    const busy = t.rounds.flatMap((x) => Object.values(x).map((d) => d.machine_busy_cores));
    lines.push(`  (the machine's busy cores during the drains, all processes: ${Math.min(...busy)} to ${Math.max(...busy)})`);
  }
  const w = r.real_workload;
  if (w) {
    lines.push('');
    lines.push(
      `Real workload: ${w.tasks} tasks of ${w.task_ms} ms, ${w.slots} at once (the service's default slots), ${w.rounds.length} round(s)`,
    );
    lines.push(
      `| ${cell('system', 26)} | ${cell('drain s', 8, true)} | ${cell('slot utilisation', 22)} | ${cell('CPU ms/task', 11, true)} | CPU parts, ms/task`,
    );
    lines.push(`|${'-'.repeat(28)}|${'-'.repeat(10)}|${'-'.repeat(24)}|${'-'.repeat(13)}|------`);
    for (const [s, m] of Object.entries(w.median) as Array<[RealSystem, Summary & { slot_utilization: number }]>) {
      lines.push(
        `| ${cell(NAMES[s], 26)} | ${cell(m.seconds, 8, true)} | ${cell(m.slot_utilization, 22)} | ${cell(m.cpu_ms_per_task, 11, true)} | ${fmtParts(m.cpu_parts_ms_per_task)}`,
      );
    }
  }
  lines.push('');
  lines.push(`| ${'measurement'.padEnd(44)} | ${'result'.padStart(16)} | notes`);
  lines.push(`|${'-'.repeat(46)}|${'-'.repeat(18)}|------`);
  if (r.api) {
    const { create, gateway } = r.api;
    row(
      'API POST /api/v1/tasks',
      `${create.requests_per_s} req/s`,
      `p50 ${create.p50_ms} ms, p99 ${create.p99_ms} ms, ${r.api.connections} connections`,
    );
    row('gateway ceiling (trivial function)', `${gateway.requests_per_s} req/s`, `p50 ${gateway.p50_ms} ms, p99 ${gateway.p99_ms} ms`);
  }
  for (const p of r.pipeline) {
    row(
      `pipeline ${p.queue}, n=${p.n}, one run`,
      `${p.tasks_per_s} tasks/s`,
      `peak RSS offline ${p.peak_rss_mb.offline} MB, bridge ${p.peak_rss_mb.bridge} MB; CPU per task ${p.cpu_ms_per_task} ms`,
    );
  }
  if (t) {
    for (const s of ['rabbitmq', 'embedded'] as const) {
      const rss = t.rounds.map((x) => x[s]).filter((d): d is PipelineRow => d !== undefined);
      if (rss.length === 0) continue;
      row(
        `pipeline ${s}, n=${t.n}: peak memory`,
        `${Math.max(...rss.map((d) => d.peak_rss_mb.offline))} MB`,
        `serverless-offline, most of the rounds; bridge ${Math.max(...rss.map((d) => d.peak_rss_mb.bridge))} MB`,
      );
    }
  }
  if (r.pgboss_grid) {
    const g = r.pgboss_grid;
    row(
      'pg-boss settings',
      `batch ${g.batch_size} x ${g.workers}`,
      `${g.refetch ? 'refetching at once after a full batch' : 'polled'}; the best of its grid before the rounds (${g.trials
        .map((x) => `${x.batch_size} x ${x.workers}${x.refetch ? ' refetch' : ''}: ${x.tasks_per_s}`)
        .join(', ')})`,
    );
  }
  if (r.latency_ms) {
    const l = r.latency_ms;
    row('create to IN_PROGRESS, idle', `p50 ${l.idle_p50} ms`, `p99 ${l.idle_p99} ms (${l.idle_samples} tasks; default slots)`);
    row(
      `create to IN_PROGRESS, ${l.load_rate_per_s} creates/s`,
      `p50 ${l.load_p50} ms`,
      `p99 ${l.load_p99} ms (${l.load_samples} tasks; default slots)`,
    );
    row(
      `  the same, ${S.slots} slots, invocations of ${S.batchSize}`,
      `p50 ${l.load_batched_p50} ms`,
      `p99 ${l.load_batched_p99} ms (the zero-length drains' settings)`,
    );
  }
  if (r.scale) {
    const sc = r.scale;
    const reads: Array<[string, ScaleRead]> = [
      ['no-op function (reference)', sc.gateway],
      ['list, default', sc.list_default],
      ['list, status=FAILED', sc.list_status_failed],
      ['search, rare term', sc.search_rare],
      ['search, frequent term', sc.search_frequent],
      ['stats', sc.stats],
      ['list, cursor 999,000 deep', sc.cursor_deep],
      ['list, offset=999000 (reference)', sc.offset_deep],
    ];
    for (const [what, m] of reads) {
      const verdict = m.target ? (m.p95 < sc.target_p95_ms ? ' (met)' : ` (MISSED: target < ${sc.target_p95_ms})`) : ' (no target)';
      const failures = m.non_2xx || m.errors ? `, ${m.non_2xx} non-2xx, ${m.errors} errors` : '';
      row(`1 M tasks: ${what}`, `p95 ${m.p95} ms`, `p50 ${m.p50}, p99 ${m.p99} ms, ${m.rps} req/s${verdict}${failures}`);
    }
    const c = sc.creates;
    row(
      '1 M tasks: creates vs an empty database',
      `${sc.create_ratio_1m_vs_empty ?? 'n/a'}`,
      `median ${c.median_1m} vs ${c.median_empty} req/s over ${c.rounds.at_1m.length} rounds each (ranges ${c.spread_1m.min}-${c.spread_1m.max}, ${c.spread_empty.min}-${c.spread_empty.max}); target >= 0.9`,
    );
  }
  lines.push('');
  lines.push('Ratios: the median of the rounds; spread = max / min across the rounds');
  lines.push(`| ${cell('ratio', 34)} | ${cell('median', 6, true)} | ${cell('rounds', 22)} | ${cell('spread', 6, true)} | target`);
  lines.push(`|${'-'.repeat(36)}|${'-'.repeat(8)}|${'-'.repeat(24)}|${'-'.repeat(8)}|------`);
  const verdicts = new Map(r.targets.map((x) => [x.what, x]));
  const verdict = (x: Target | undefined) => (x ? `${x.op} ${x.target}: ${x.met ? 'met' : 'NOT MET'}` : '');
  for (const [k, v] of Object.entries(r.ratios)) {
    if (v === null) continue; // a step left out by --only
    const each = r.rounds
      .map((x) => x[k])
      .filter((x) => x !== undefined && x !== null)
      .join(', ');
    const s = r.spread[k];
    const sv = verdicts.get(`spread.${k}`);
    const spreadNote = sv && !sv.met ? ` (spread ${sv.value} > 1.3: NOT MET)` : '';
    lines.push(
      `| ${cell(k, 34)} | ${cell(v ?? 'n/a', 6, true)} | ${cell(each || '-', 22)} | ${cell(s ?? '-', 6, true)} | ${verdict(verdicts.get(k)) || (k === 'api_vs_gateway' ? 'none' : '')}${spreadNote}`,
    );
  }
  for (const k of ['latency_ms.idle_p50', 'latency_ms.idle_p99']) {
    const x = verdicts.get(k);
    if (x) lines.push(`| ${cell(k, 34)} | ${cell(x.value ?? 'n/a', 6, true)} | ${cell('-', 22)} | ${cell('-', 6, true)} | ${verdict(x)}`);
  }
  const met = r.targets.filter((x) => x.met).length;
  lines.push('');
  lines.push(
    `Targets met: ${met} of ${r.targets.length}${
      r.targets.some((x) => !x.met)
        ? `; not met: ${r.targets
            .filter((x) => !x.met)
            .map((x) => `${x.what} ${x.value}`)
            .join(', ')}`
        : ''
    }`,
  );
  if (r.throughput?.median.sql_ceiling && r.throughput.median.rabbitmq) {
    const beat = (['rabbitmq', 'embedded'] as const).filter(
      (s) => (r.throughput?.median[s]?.tasks_per_s ?? 0) > (r.throughput?.median.sql_ceiling?.tasks_per_s ?? 0),
    );
    if (beat.length) lines.push(`The SQL "ceiling" is beaten by ${beat.join(' and ')}: it is not a ceiling here.`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

interface Report {
  at: string;
  mode: 'quick' | 'full';
  machine: { cores: number; cpu: string; memory_gb: number; platform: string };
  versions: Record<string, string>;
  settings: typeof S;
  /** CPU of what the benchmark started and of the servers while nothing ran, ms per s (before the rounds). */
  idle_cpu_ms_per_s?: CpuParts;
  throughput?: {
    n: number;
    order: System[][];
    rounds: Array<Partial<Record<System, Drain>>>;
    median: Partial<Record<System, Summary>>;
  };
  pgboss_grid?: {
    batch_size: number;
    workers: number;
    refetch: boolean;
    trials: Array<{ batch_size: number; workers: number; refetch: boolean; n: number; tasks_per_s: number }>;
  };
  pipeline: PipelineRow[];
  api?: Awaited<ReturnType<typeof apiBench>>;
  latency_ms?: Awaited<ReturnType<typeof latencyBench>>;
  real_workload?: {
    tasks: number;
    task_ms: number;
    slots: number;
    rounds: Array<Partial<Record<RealSystem, RealDrain>>>;
    median: Partial<Record<RealSystem, Summary & { slot_utilization: number }>>;
  };
  scale?: Awaited<ReturnType<typeof scaleBench>>;
  /** Each ratio's median over the rounds (api_vs_gateway: one measurement). */
  ratios: Record<string, number | null>;
  /** The ratios of each round: throughput, real workload (fewer rounds in --quick) and the scale step's creates. */
  rounds: Array<Record<string, number | null>>;
  /** Max / min of each ratio across the rounds (null with fewer than two). */
  spread: Record<string, number | null>;
  targets: Target[];
}

/** Rotates a list by `by`: round i starts with the i-th system, so that none always runs first or last. */
const rotate = <T>(xs: T[], by: number): T[] => xs.map((_, i) => xs[(i + by) % xs.length] as T);

async function main() {
  const started = Date.now();
  await createBenchDatabase();
  const report: Report = {
    at: new Date().toISOString(),
    mode: QUICK ? 'quick' : 'full',
    machine: {
      cores: os.cpus().length,
      cpu: os.cpus()[0]?.model ?? '?',
      memory_gb: round(os.totalmem() / 1024 ** 3, 1),
      platform: `${os.platform()} ${os.release()}`,
    },
    versions: await serverVersions(),
    settings: S,
    pipeline: [],
    ratios: {},
    rounds: [],
    spread: {},
    targets: [],
  };
  const want = (step: string) => ONLY.has(step);
  // One serverless-offline per queue, kept running through the rounds (starting one takes long); the bridge, pg-boss's
  // workers and BullMQ's worker run only during their own drains.
  let embedded: Offline | undefined;
  let rabbit: Offline | undefined;
  if (want('pipeline') || want('real')) {
    log('starting serverless-offline on the embedded queue');
    embedded = await startService('postgres');
  }
  if (want('pipeline') || want('api') || want('latency') || want('real')) {
    log('starting serverless-offline on RabbitMQ');
    rabbit = await startService('rabbitmq');
  }

  log('warm-up');
  let pgBoss: PgBossOptions | undefined;
  if (want('pipeline') && embedded && rabbit) {
    await pipelineRun(embedded, S.warmUp);
    await pipelineRun(rabbit, S.warmUp);
  }
  if (want('pgboss')) {
    const grid = await pgBossGrid(S.backlog);
    pgBoss = grid;
    report.pgboss_grid = { batch_size: grid.batchSize, workers: grid.workers, refetch: grid.refetch, trials: grid.trials };
  }
  if (want('bullmq')) await bullRun(S.warmUp, { concurrency: S.bullConcurrency });
  if (want('sql')) await sqlCeiling(1);

  // Nothing runs now: what the benchmark's own processes and the servers burn meanwhile.
  {
    await resetTables();
    const idle = cpuWindow(
      {
        offline: { groups: [embedded?.child.pid, rabbit?.child.pid] },
        postgres: postgresProcesses(),
        rabbitmq: RABBITMQ_PROCESSES,
        redis: REDIS_PROCESSES,
      },
      true,
    );
    await sleep(S.idleSeconds * 1000);
    report.idle_cpu_ms_per_s = idle.close(S.idleSeconds).cpu_parts_ms_per_task;
    log(`idle, CPU ms per s: ${fmtParts(report.idle_cpu_ms_per_s)}`);
  }

  const drains: Partial<Record<System, () => Promise<Drain>>> = {};
  if (want('pipeline') && rabbit && embedded) {
    const [r, e] = [rabbit, embedded];
    drains.rabbitmq = () => pipelineRun(r, S.backlog, { profileName: 'bridge-rabbitmq' });
    drains.embedded = () => pipelineRun(e, S.backlog, { profileName: 'bridge-embedded' });
  }
  if (pgBoss) {
    const cfg = pgBoss;
    drains.pgboss = () => pgBossRun(S.backlog, cfg);
  }
  if (want('bullmq')) drains.bullmq = () => bullRun(S.backlog, { concurrency: S.bullConcurrency });
  if (want('sql')) drains.sql_ceiling = () => sqlCeiling();
  const systems = Object.keys(drains) as System[];
  if (systems.length > 0) {
    const t: NonNullable<Report['throughput']> = { n: S.backlog, order: [], rounds: [], median: {} };
    for (let i = 0; i < S.rounds; i++) {
      const order = rotate(systems, i);
      log(`round ${i + 1} of ${S.rounds}: ${order.join(', ')}`);
      const result: Partial<Record<System, Drain>> = {};
      for (const s of order) {
        const d = await (drains[s] as () => Promise<Drain>)();
        result[s] = d;
        if (s !== 'rabbitmq' && s !== 'embedded') {
          log(`  ${s}: ${d.tasks_per_s} tasks/s, CPU per task ${d.cpu_ms_per_task} ms ${JSON.stringify(d.cpu_parts_ms_per_task)}`);
        }
      }
      t.order.push(order);
      t.rounds.push(result);
    }
    t.median = summarize(t.rounds);
    report.throughput = t;
  }

  if (want('pipeline') && rabbit) {
    for (const n of S.rabbitSeries) report.pipeline.push(await pipelineRun(rabbit, n));
  }
  if (want('api') && rabbit) report.api = await apiBench(rabbit);
  // After the API's load, the create function's worker threads are warm, as on a system that has been running.
  if (want('latency') && rabbit) report.latency_ms = await latencyBench(rabbit);

  if (want('real')) {
    const { tasks, taskMs, slots } = S.real;
    const payload = { duration_ms: taskMs, failure_rate: 0 };
    const util = (d: Drain): RealDrain => ({ ...d, slot_utilization: round((tasks * taskMs) / (d.seconds * 1000 * slots), 3) });
    const real: Partial<Record<RealSystem, () => Promise<Drain>>> = {};
    if (rabbit && embedded) {
      const [r, e] = [rabbit, embedded];
      real.rabbitmq = () => pipelineRun(r, tasks, { payload, env: DEFAULT_BRIDGE, profileName: 'bridge-real-rabbitmq' });
      real.embedded = () => pipelineRun(e, tasks, { payload, env: DEFAULT_BRIDGE, profileName: 'bridge-real-embedded' });
    }
    real.pgboss = () => pgBossRun(tasks, { batchSize: 1, workers: slots, taskMs });
    real.bullmq = () => bullRun(tasks, { concurrency: slots, taskMs });
    const w: NonNullable<Report['real_workload']> = { tasks, task_ms: taskMs, slots, rounds: [], median: {} };
    for (let i = 0; i < S.real.rounds; i++) {
      const order = rotate(Object.keys(real) as RealSystem[], i);
      log(`real workload, round ${i + 1} of ${S.real.rounds}: ${order.join(', ')}`);
      const result: Partial<Record<RealSystem, RealDrain>> = {};
      for (const s of order) {
        const d = util(await (real[s] as () => Promise<Drain>)());
        result[s] = d;
        log(`  ${s}: ${d.seconds} s, slot utilisation ${d.slot_utilization}, CPU per task ${d.cpu_ms_per_task} ms`);
      }
      w.rounds.push(result);
    }
    const sums = summarize(w.rounds);
    w.median = Object.fromEntries(
      Object.entries(sums).map(([s, m]) => [
        s,
        { ...m, slot_utilization: round(median(w.rounds.map((x) => x[s as RealSystem]?.slot_utilization ?? Number.NaN)), 3) },
      ]),
    );
    report.real_workload = w;
  }

  for (const o of [embedded, rabbit]) if (o) await stopService(o);
  if (want('scale')) report.scale = await scaleBench();

  // Each round's ratios, their medians and spreads.
  const rounds: Array<Record<string, number | null>> = [];
  const roundOf = (i: number) => {
    rounds[i] ??= {};
    return rounds[i] as Record<string, number | null>;
  };
  report.throughput?.rounds.forEach((r, i) => {
    Object.assign(roundOf(i), throughputRatios(r));
  });
  report.real_workload?.rounds.forEach((r, i) => {
    Object.assign(roundOf(i), realRatios(r));
  });
  report.scale?.creates.rounds.at_1m.forEach((v, i) => {
    roundOf(i).scale_create_1m_vs_empty = ratio(v, report.scale?.creates.rounds.empty[i]);
  });
  report.rounds = rounds;
  const keys = [...new Set(rounds.flatMap((r) => Object.keys(r)))];
  for (const k of keys) {
    const xs = rounds.map((r) => r[k]).filter((x): x is number => typeof x === 'number');
    report.ratios[k] = xs.length ? round(median(xs), 2) : null;
    report.spread[k] = xs.length >= 2 ? round(Math.max(...xs) / Math.min(...xs), 2) : null;
  }
  // The scale step's ratio is its own medians' (as before), not the median of its rounds' ratios.
  if (report.scale) report.ratios.scale_create_1m_vs_empty = report.scale.create_ratio_1m_vs_empty;
  report.ratios.api_vs_gateway = ratio(report.api?.create.requests_per_s, report.api?.gateway.requests_per_s);
  report.targets = targets(report);

  mkdirSync(RESULTS, { recursive: true });
  const json = `${JSON.stringify(report, null, 2)}\n`;
  writeFileSync(path.join(RESULTS, `${STAMP}.json`), json);
  writeFileSync(path.join(RESULTS, 'latest.json'), json);
  printTable(report);
  log(`(${round((Date.now() - started) / 1000)} s; written to bench/results/latest.json)`);
}

process.on('SIGINT', () => {
  log('\nInterrupted: stopping what the benchmark started...');
  void cleanup().finally(() => process.exit(130));
});
process.on('SIGTERM', () => void cleanup().finally(() => process.exit(143)));

main()
  .then(() => cleanup())
  .then(() => process.exit(0))
  .catch(async (err) => {
    console.error(err instanceof Error ? err.message : err);
    await cleanup();
    process.exit(1);
  });
