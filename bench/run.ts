import type { ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
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
import { config, resetConfig } from '#lib/config';
import { createDb, type Db } from '#lib/db/client';
import { migrateDatabase } from '#lib/db/migrate';
import { deleteOutboxRows } from '#lib/db/outbox';
import { insertQueuedTasks } from '#lib/db/tasks';
import { createQueue } from '#lib/queue/factory';
import type { Queue } from '#lib/queue/types';
import { encodeListCursor } from '#lib/tasks/schemas';
import { waitUntil, withTimeout } from '#lib/time';
import { createDatabase, dropDatabase } from '#local/pg-admin';
import { captureOutput, freePort, startBridgeProcess, startOffline, stopTree, waitForHttp } from '#local/process-tree';
import { usageSampler } from './procs';
import { CREATED_TITLE, deleteCreatedTasks, ensureScaleDatabase, SCALE_SEARCH, SCALE_TASKS } from './scale-db';

// `npm run bench [-- --quick] [-- --cpu-prof] [-- --only=api,pipeline,latency,pgboss,bullmq,sql,scale]`:
// runs every measurement side by side on the machine's PostgreSQL, RabbitMQ and Redis, prints one table and
// writes it as JSON under bench/results/. Compare ratios within one run: absolute numbers move with the machine.

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
const ONLY = new Set((args.only ?? 'api,pipeline,latency,pgboss,bullmq,sql,scale').split(',').map((s) => s.trim()));

const SERVER_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const RABBITMQ_URL = process.env.RABBITMQ_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Most jobs pg-boss may hold at once (batch size times workers): a tenth of the full run's backlog. */
const PG_BOSS_MAX_FETCHED = 1_000;

const S = {
  /**
   * Slots (messages in hand) and messages per invocation of the bridge: 160 slots in invocations of 10, as the
   * 16 invocations of 10 that did best of 8 x 10, 16 x 10 and 8 x 25 when the bridge ran batches in lanes.
   */
  slots: 160,
  batchSize: 10,
  /** Clients of the SQL ceiling: the three statements of a task, autocommit, on 8 connections. */
  sqlClients: 8,
  /** The backlog compared with pg-boss, BullMQ and the SQL ceiling. */
  backlog: 10_000,
  /**
   * Tasks drained before the measured runs, on each queue: the processor's connections open and its code compiled
   * by the JIT (CPU per task falls by a third over the first ~20,000). pg-boss gets its warm-up from the grid.
   */
  warmUp: QUICK ? 2_000 : 5_000,
  /** Backlogs of the RabbitMQ pipeline, for throughput and memory as N grows. */
  rabbitSeries: QUICK ? [1_000, 10_000] : [1_000, 10_000, 50_000],
  apiConnections: 16,
  apiSeconds: QUICK ? 4 : 10,
  sqlSeconds: QUICK ? 3 : 8,
  idleSamples: QUICK ? 60 : 200,
  loadRate: 200,
  loadSeconds: QUICK ? 4 : 10,
  // pg-boss: the best of these batch sizes and worker counts. Its workers fetch at most every 0.5 s, so a grid
  // entry takes at most PG_BOSS_MAX_FETCHED jobs at once: more would hand it the whole backlog in one fetch.
  pgBossGrid: (QUICK
    ? [
        { batchSize: 100, workers: 8 },
        { batchSize: 500, workers: 2 },
      ]
    : [
        { batchSize: 50, workers: 4 },
        { batchSize: 100, workers: 4 },
        { batchSize: 100, workers: 8 },
        { batchSize: 250, workers: 4 },
        { batchSize: 500, workers: 2 },
      ]
  ).filter((g) => g.batchSize * g.workers <= PG_BOSS_MAX_FETCHED),
  bullConcurrency: 100,
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

async function createBenchDatabase(): Promise<void> {
  const name = `bench_${randomBytes(5).toString('hex')}`;
  databaseUrl = await createDatabase(SERVER_URL, name);
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
  await pool.query('TRUNCATE tasks, task_events, outbox, queue_messages');
  await pool.query('VACUUM ANALYZE tasks, task_events, outbox, queue_messages');
}

/**
 * Inserts `n` PENDING tasks with their events and returns their ids, as `POST /api/v1/tasks` leaves them: the
 * service's own insert (which also writes each task's outbox row), then the outbox rows deleted, as the service
 * deletes them once it has published. The caller publishes the messages.
 */
async function insertPendingTasks(n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i += 1_000) {
    const list = Array.from({ length: Math.min(1_000, n - i) }, () => ({
      id: randomUUID(),
      type: 'emulate',
      title: 'bench',
      description: null,
      priority: 'MEDIUM' as const,
      payload: PAYLOAD,
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
    WORKER_CONCURRENCY: String(S.slots),
    WORKER_BATCH_SIZE: String(S.batchSize),
    OUTBOX_INTERVAL_MS: '60000',
  };
  const dir = profileDir(`offline-${driver}`);
  const child = startOffline(env, dir);
  children.add(child);
  const output = captureOutput(child);
  log(`  serverless-offline pid ${child.pid}`);
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

async function startBridge(o: Offline, profileName?: string) {
  const bridge = await startBridgeProcess(o.env, { profileDir: profileName ? profileDir(profileName) : undefined });
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

interface PipelineRow {
  queue: 'embedded' | 'rabbitmq';
  n: number;
  tasks_per_s: number;
  seconds: number;
  peak_rss_mb: { offline: number; bridge: number };
  /** CPU time of serverless-offline and of the bridge per task (less noisy than throughput on a shared machine). */
  cpu_ms_per_task: { offline: number; bridge: number };
}

/** Drains a backlog of `n` zero-length tasks through the queue, the bridge and the processor to COMPLETED. */
async function pipelineRun(o: Offline, n: number, profileName?: string): Promise<PipelineRow> {
  await resetTables();
  await purgeQueue(o);
  const ids = await insertPendingTasks(n);
  await publishTasks(o, ids);
  const bridge = await startBridge(o, profileName);
  const consuming = Date.now();
  const sampler = usageSampler({ offline: o.child.pid, bridge: bridge.child.pid });
  let usage: ReturnType<typeof sampler.stop> = { peak: {}, cpuMs: {} };
  try {
    await waitUntil(`draining ${n} tasks`, async () => (await countStatus('COMPLETED')) >= n, Math.max(60_000, n * 10), 250);
  } catch (err) {
    throw new Error(
      `${(err as Error).message}\n--- bridge ---\n${bridge.output().slice(-2000)}\n--- offline ---\n${o.output().slice(-2000)}`,
    );
  } finally {
    usage = sampler.stop();
    await bridge.stop();
  }
  // From the first claim (or the bridge saying it consumes, if earlier) to the last completion.
  const span = await runSpan();
  const ms = span.last - Math.min(consuming, span.first);
  const queue = o.env.QUEUE_DRIVER === 'postgres' ? 'embedded' : 'rabbitmq';
  const row: PipelineRow = {
    queue,
    n,
    tasks_per_s: round((n / ms) * 1000),
    seconds: round(ms / 1000, 2),
    peak_rss_mb: { offline: mb(usage.peak.offline ?? 0), bridge: mb(usage.peak.bridge ?? 0) },
    cpu_ms_per_task: { offline: round((usage.cpuMs.offline ?? 0) / n, 3), bridge: round((usage.cpuMs.bridge ?? 0) / n, 3) },
  };
  log(
    `  pipeline ${queue} n=${n}: ${row.tasks_per_s} tasks/s (rss offline ${row.peak_rss_mb.offline} MB, bridge ${row.peak_rss_mb.bridge} MB;` +
      ` cpu per task offline ${row.cpu_ms_per_task.offline} ms, bridge ${row.cpu_ms_per_task.bridge} ms)`,
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

async function latencyBench(o: Offline) {
  await resetTables();
  const bridge = await startBridge(o);
  try {
    for (let i = 0; i < 20; i++) await postTask(o.baseUrl); // warm-up
    const idleIds: string[] = [];
    for (let i = 0; i < S.idleSamples; i++) {
      idleIds.push(await postTask(o.baseUrl));
      await sleep(25);
    }
    const idle = await startLatencies(idleIds);
    // A steady, open-loop load: S.loadRate creates per second, spread over 10 ms ticks.
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
    const load = await startLatencies(await Promise.all(loadIds));
    const r = (xs: number[], p: number) => round(percentile(xs, p), 1);
    const result = {
      idle_p50: r(idle, 50),
      idle_p99: r(idle, 99),
      load_p50: r(load, 50),
      load_p99: r(load, 99),
      idle_samples: idle.length,
      load_samples: load.length,
      load_rate_per_s: S.loadRate,
    };
    log(`  latency idle p50 ${result.idle_p50} p99 ${result.idle_p99}; load p50 ${result.load_p50} p99 ${result.load_p99} ms`);
    return result;
  } finally {
    await bridge.stop();
  }
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

async function pgBossRun(n: number, batchSize: number, workers: number): Promise<{ tasks_per_s: number; seconds: number }> {
  await resetTables();
  const ids = await insertPendingTasks(n);
  const boss = new PgBoss({ connectionString: databaseUrl, schema: 'pgboss', max: workers + 2, supervise: false, schedule: false });
  boss.on('error', () => {});
  await boss.start();
  const name = `bench_${randomBytes(3).toString('hex')}`;
  await boss.createQueue(name);
  for (let i = 0; i < ids.length; i += 1_000) {
    await boss.insert(ids.slice(i, i + 1_000).map((id) => ({ name, data: { task_id: id } })));
  }
  const first = Date.now();
  const workerIds: string[] = [];
  try {
    for (let w = 0; w < workers; w++) {
      workerIds.push(
        await boss.work<{ task_id: string }>(name, { batchSize, pollingIntervalSeconds: 0.5 }, async (jobs) => {
          await pool.query(COMPLETE_SQL, [jobs.map((j) => j.data.task_id)]);
        }),
      );
    }
    await waitUntil(`pg-boss draining ${n}`, async () => (await countStatus('COMPLETED')) >= n, Math.max(60_000, n * 10), 100);
  } finally {
    await boss.stop({ graceful: false, wait: true, timeout: 5_000 }).catch(() => {});
  }
  const ms = (await runSpan()).last - first;
  await pool.query('DROP SCHEMA pgboss CASCADE');
  return { tasks_per_s: round((n / ms) * 1000), seconds: round(ms / 1000, 2) };
}

async function pgBossBench(n: number) {
  const trials = [];
  const trialN = n;
  for (const cfg of S.pgBossGrid) {
    const r = await pgBossRun(trialN, cfg.batchSize, cfg.workers);
    trials.push({ ...cfg, n: trialN, tasks_per_s: r.tasks_per_s });
    log(`  pg-boss batch ${cfg.batchSize} x ${cfg.workers} workers: ${r.tasks_per_s} tasks/s`);
  }
  const best = trials.reduce((a, b) => (b.tasks_per_s > a.tasks_per_s ? b : a));
  const run = await pgBossRun(n, best.batchSize, best.workers);
  log(`  pg-boss n=${n} (batch ${best.batchSize} x ${best.workers}): ${run.tasks_per_s} tasks/s`);
  return { n, batch_size: best.batchSize, workers: best.workers, ...run, trials };
}

async function bullBench(n: number) {
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
    const first = Date.now();
    worker = new BullWorker(
      'tasks',
      (job) =>
        new Promise<void>((done, fail) => {
          pending.push({ id: job.data.task_id, done, fail });
          flush();
        }),
      { connection: consumer as never, prefix, concurrency: S.bullConcurrency },
    );
    worker.on('error', () => {});
    await waitUntil(`BullMQ draining ${n}`, async () => (await countStatus('COMPLETED')) >= n, Math.max(60_000, n * 10), 100);
    const ms = (await runSpan()).last - first;
    const r = { n, concurrency: S.bullConcurrency, tasks_per_s: round((n / ms) * 1000), seconds: round(ms / 1000, 2) };
    log(`  BullMQ n=${n}: ${r.tasks_per_s} tasks/s`);
    return r;
  } finally {
    await worker?.close(true).catch(() => {});
    await queue.obliterate({ force: true }).catch(() => {});
    await queue.close().catch(() => {});
    producer.disconnect();
    consumer.disconnect();
  }
}

/** The SQL a task needs (insert, claim, complete), three autocommit statements, on `S.sqlClients` clients. */
async function sqlCeiling() {
  await resetTables();
  const clients = await Promise.all(
    Array.from({ length: S.sqlClients }, async () => {
      const c = new pg.Client({ connectionString: databaseUrl });
      await c.connect();
      return c;
    }),
  );
  let done = 0;
  const deadline = Date.now() + S.sqlSeconds * 1000;
  const started = Date.now();
  try {
    await Promise.all(
      clients.map(async (c) => {
        while (Date.now() < deadline) {
          const { rows } = await c.query<{ id: string }>(
            "INSERT INTO tasks (type, title, priority, payload, status) VALUES ('emulate', 'bench', 'MEDIUM', $1, 'PENDING') RETURNING id",
            [JSON.stringify(PAYLOAD)],
          );
          const id = rows[0]?.id;
          await c.query(
            "UPDATE tasks SET status = 'IN_PROGRESS', started_at = now(), attempts = attempts + 1, updated_at = now() WHERE id = $1 AND status = 'PENDING'",
            [id],
          );
          await c.query(
            `UPDATE tasks SET status = 'COMPLETED', finished_at = now(), progress = 100, result = '{"slept_ms":0}'::jsonb, updated_at = now()
             WHERE id = $1 AND status = 'IN_PROGRESS'`,
            [id],
          );
          done++;
        }
      }),
    );
  } finally {
    await Promise.all(clients.map((c) => c.end()));
  }
  const r = { clients: S.sqlClients, tasks_per_s: round((done / (Date.now() - started)) * 1000) };
  log(`  SQL ceiling: ${r.tasks_per_s} tasks/s`);
  return r;
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

const median = (xs: number[]) =>
  percentile(
    [...xs].sort((a, b) => a - b),
    50,
  );

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

function ratio(a: number | undefined, b: number | undefined): number | null {
  return a && b ? round(a / b, 2) : null;
}

function printTable(r: Report) {
  const lines: string[] = [];
  const row = (what: string, value: string, note = '') => lines.push(`| ${what.padEnd(44)} | ${value.padStart(16)} | ${note}`);
  lines.push(`Benchmark ${r.at}  ${r.machine.cores} cores (${r.machine.cpu}), ${r.mode} run`);
  lines.push(
    Object.entries(r.versions)
      .map(([k, v]) => `${k} ${v}`)
      .join(', '),
  );
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
      `pipeline ${p.queue}, n=${p.n}`,
      `${p.tasks_per_s} tasks/s`,
      `peak RSS offline ${p.peak_rss_mb.offline} MB, bridge ${p.peak_rss_mb.bridge} MB; CPU per task ${p.cpu_ms_per_task.offline} + ${p.cpu_ms_per_task.bridge} ms`,
    );
  }
  if (r.latency_ms) {
    const l = r.latency_ms;
    row('create to IN_PROGRESS, idle', `p50 ${l.idle_p50} ms`, `p99 ${l.idle_p99} ms (${l.idle_samples} tasks)`);
    row(`create to IN_PROGRESS, ${l.load_rate_per_s} creates/s`, `p50 ${l.load_p50} ms`, `p99 ${l.load_p99} ms (${l.load_samples} tasks)`);
  }
  if (r.pgboss)
    row(
      `pg-boss, n=${r.pgboss.n}`,
      `${r.pgboss.tasks_per_s} tasks/s`,
      `batch ${r.pgboss.batch_size} x ${r.pgboss.workers} workers (best of the grid)`,
    );
  if (r.bullmq) row(`BullMQ, n=${r.bullmq.n}`, `${r.bullmq.tasks_per_s} tasks/s`, `concurrency ${r.bullmq.concurrency}`);
  if (r.sql_ceiling)
    row('SQL ceiling (insert, claim, complete)', `${r.sql_ceiling.tasks_per_s} tasks/s`, `${r.sql_ceiling.clients} clients`);
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
  lines.push('ratios');
  for (const [k, v] of Object.entries(r.ratios)) lines.push(`  ${k.padEnd(36)} ${v ?? 'n/a'}`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

interface Report {
  at: string;
  mode: 'quick' | 'full';
  machine: { cores: number; cpu: string; memory_gb: number; platform: string };
  versions: Record<string, string>;
  settings: typeof S;
  api?: Awaited<ReturnType<typeof apiBench>>;
  pipeline: PipelineRow[];
  latency_ms?: Awaited<ReturnType<typeof latencyBench>>;
  pgboss?: Awaited<ReturnType<typeof pgBossBench>>;
  bullmq?: Awaited<ReturnType<typeof bullBench>>;
  sql_ceiling?: Awaited<ReturnType<typeof sqlCeiling>>;
  scale?: Awaited<ReturnType<typeof scaleBench>>;
  ratios: Record<string, number | null>;
}

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
  };

  if (ONLY.has('pipeline')) {
    log('embedded queue: starting serverless-offline');
    const o = await startService('postgres');
    await pipelineRun(o, S.warmUp);
    report.pipeline.push(await pipelineRun(o, S.backlog));
    await stopService(o);
  }
  if (ONLY.has('pipeline') || ONLY.has('api') || ONLY.has('latency')) {
    log('RabbitMQ: starting serverless-offline');
    const o = await startService('rabbitmq');
    // The pipeline first, so that its memory is the pipeline's alone.
    if (ONLY.has('pipeline')) {
      await pipelineRun(o, S.warmUp);
      for (const n of S.rabbitSeries) report.pipeline.push(await pipelineRun(o, n, n === S.backlog ? 'bridge-rabbitmq' : undefined));
    }
    if (ONLY.has('api')) report.api = await apiBench(o);
    // After the API's load, the create function's worker threads are warm, as on a system that has been running.
    if (ONLY.has('latency')) report.latency_ms = await latencyBench(o);
    await stopService(o);
  }
  if (ONLY.has('pgboss')) report.pgboss = await pgBossBench(S.backlog);
  if (ONLY.has('bullmq')) report.bullmq = await bullBench(S.backlog);
  if (ONLY.has('sql')) report.sql_ceiling = await sqlCeiling();
  if (ONLY.has('scale')) report.scale = await scaleBench();

  const rabbit = report.pipeline.find((p) => p.queue === 'rabbitmq' && p.n === S.backlog)?.tasks_per_s;
  const embedded = report.pipeline.find((p) => p.queue === 'embedded' && p.n === S.backlog)?.tasks_per_s;
  report.ratios = {
    pipeline_rabbitmq_vs_pgboss: ratio(rabbit, report.pgboss?.tasks_per_s),
    pipeline_rabbitmq_vs_bullmq: ratio(rabbit, report.bullmq?.tasks_per_s),
    pipeline_rabbitmq_vs_sql_ceiling: ratio(rabbit, report.sql_ceiling?.tasks_per_s),
    pipeline_embedded_vs_pgboss: ratio(embedded, report.pgboss?.tasks_per_s),
    api_vs_gateway: ratio(report.api?.create.requests_per_s, report.api?.gateway.requests_per_s),
    scale_create_1m_vs_empty: report.scale?.create_ratio_1m_vs_empty ?? null,
  };

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
