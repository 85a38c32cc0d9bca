import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import { config, resetConfig } from '#lib/config';
import { migrateDatabase } from '#lib/db/migrate';
import { closeQueue } from '#lib/queue/client';
import { settleWithin } from '#lib/time';
import { type Bridge, bridgeOptionsFromConfig, startBridge } from '#local/bridge';
import { consoleLine, lineFilter, offlineOutputFilter } from '#local/console';
import { buildDashboardIfStale } from '#local/dashboard-build';
import { type EmbeddedServer, startEmbeddedPostgres } from '#local/embedded-postgres';
import { forwardOutput, startBridgeProcess, startOffline, stopTree, waitForHttp } from '#local/process-tree';

// `npm start`: the database (embedded unless DATABASE_URL is set), migrations, serverless-offline and the
// queue bridge. Ctrl-C stops everything it started. With `--watch` (npm run dev), a change under functions/, lib/
// or local/ restarts serverless-offline (which bundles the functions again) and the bridge; the database stays up.
const EMBEDDED_PORT = Number(process.env.EMBEDDED_PG_PORT ?? 54329);
const EMBEDDED_DIR = path.resolve(process.env.EMBEDDED_PG_DIR ?? path.join(__dirname, '../.data/postgres'));
const ROOT = path.resolve(__dirname, '..');
const WATCH = process.argv.includes('--watch');

let embedded: Promise<EmbeddedServer> | undefined;
let offline: ChildProcess | undefined;
/** The bridge: in this process, or with --watch in a process of its own (restarted with the code it runs). */
let bridge: { stop(): Promise<void> } | undefined;
let stopping: Promise<void> | undefined;
let stopWatching: (() => void) | undefined;

/** Stops serverless-offline and the bridge (the database stays up). */
async function stopServices(): Promise<void> {
  await bridge?.stop().catch(() => {});
  bridge = undefined;
  const child = offline;
  // Cleared first: its exit is then expected.
  offline = undefined;
  if (child) await stopTree(child);
}

/** Stops what was started, in order, once (a second call waits for the first), then exits with `code`. */
async function stop(code: number): Promise<never> {
  stopping ??= (async () => {
    stopWatching?.();
    console.log('\nStopping: no new messages are taken; running tasks get up to 10 s to finish...');
    await stopServices();
    await closeQueue().catch(() => {});
    // Also when stopped while it was starting; a server that does not stop within 15 s is left to its own exit.
    const server = await embedded?.catch(() => undefined);
    if (server) await settleWithin(server.stop(), 15_000);
    console.log('Stopped.');
  })();
  await stopping;
  process.exit(code);
}

/** Starts serverless-offline, waits for it to answer, then starts the bridge. */
async function startServices(httpPort: string, lambdaPort: string): Promise<void> {
  const c = config();
  const child = startOffline({ ...process.env, HTTP_PORT: httpPort, LAMBDA_PORT: lambdaPort });
  offline = child;
  forwardOutput(child, () => offlineOutputFilter(c.LOG_REQUESTS));
  child.on('exit', (code) => {
    // During a shutdown or a restart this is expected.
    if (stopping || offline !== child) return;
    console.error(`serverless offline exited (code ${code}).`);
    if (WATCH) console.error('Waiting for a change to start it again...');
    else void stop(code ?? 1);
  });
  await waitForHttp(`http://localhost:${httpPort}/health`, 120_000, child);
  // Stopped meanwhile (Ctrl-C during a restart): the bridge is not started.
  if (stopping) return;
  const lambdaUrl = `http://127.0.0.1:${lambdaPort}`;
  if (WATCH) {
    const { child: bridgeChild } = await startBridgeProcess({ ...process.env, LAMBDA_PORT: lambdaPort });
    forwardOutput(bridgeChild, () => (line) => consoleLine(line, c.LOG_REQUESTS));
    bridge = { stop: () => stopTree(bridgeChild, 15_000) };
  } else {
    const inProcess: Bridge = await startBridge(bridgeOptionsFromConfig(lambdaUrl));
    bridge = { stop: () => inProcess.stop(10_000) };
  }
}

async function main() {
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));
  config();
  // The service's own log lines written in this process (the bridge's, the dispatcher's) made short, as those of
  // serverless-offline's output (local/console.ts).
  const write = process.stdout.write.bind(process.stdout);
  const short = lineFilter(
    (line) => consoleLine(line, config().LOG_REQUESTS),
    (text) => write(text),
  );
  process.stdout.write = ((chunk: string | Uint8Array) => {
    short(Buffer.from(chunk));
    return true;
  }) as typeof process.stdout.write;

  if (!process.env.DATABASE_URL) {
    console.log(`Starting the embedded PostgreSQL on port ${EMBEDDED_PORT} (data in ${path.relative(process.cwd(), EMBEDDED_DIR)})...`);
    embedded = startEmbeddedPostgres({ port: EMBEDDED_PORT, persistent: true, dir: EMBEDDED_DIR, database: 'tasks' });
    process.env.DATABASE_URL = (await embedded).url;
    resetConfig();
  }
  const c = config();
  await migrateDatabase(c.DATABASE_URL);
  console.log('Migrations applied.');

  await buildDashboardIfStale();

  const httpPort = process.env.HTTP_PORT ?? '3000';
  const lambdaPort = process.env.LAMBDA_PORT ?? '3002';
  console.log('Starting serverless-offline (bundling the functions)...');
  await startServices(httpPort, lambdaPort);
  const base = `http://localhost:${httpPort}`;
  console.log(
    `\nAsync Task Service is running (queue: ${c.QUEUE_DRIVER}, ${c.WORKER_CONCURRENCY} task runs at once, up to ${c.WORKER_BATCH_SIZE} per invocation)`,
  );
  console.log(`  Dashboard: ${base}/dashboard`);
  console.log(`  API:       ${base}/api/v1/tasks`);
  console.log(`  Docs:      ${base}/docs`);
  console.log(`  OpenAPI:   ${base}/openapi.json`);
  console.log(`  Health:    ${base}/health`);
  console.log(`  Metrics:   ${base}/metrics`);
  console.log(
    `Requests: ${c.LOG_REQUESTS === 'api' ? "one line each, the dashboard's own left out (LOG_REQUESTS=all shows them)" : c.LOG_REQUESTS}.`,
  );
  if (WATCH) {
    // Loaded only here: the file watcher is a development dependency, which the Docker image leaves out.
    const { watchForChanges } = await import('#local/watch');
    stopWatching = watchForChanges(
      async (files) => {
        const names = files.map((f) => path.relative(ROOT, f));
        console.log(`\nChanged: ${names.slice(0, 5).join(', ')}${names.length > 5 ? ` and ${names.length - 5} more` : ''}; restarting...`);
        const started = Date.now();
        await stopServices();
        try {
          await startServices(httpPort, lambdaPort);
          console.log(`Restarted in ${((Date.now() - started) / 1000).toFixed(1)} s.`);
        } catch (err) {
          console.error(`Restart failed: ${(err as Error).message}\nWaiting for a change to try again...`);
        }
      },
      { dirs: ['functions', 'lib', 'local'].map((d) => path.join(ROOT, d)) },
    );
    console.log('Watching functions/, lib/ and local/: a change restarts serverless-offline and the bridge.');
  }
  console.log('Press Ctrl-C to stop.');
}

main().catch(async (err) => {
  console.error(err instanceof Error ? err.message : err);
  await stop(1);
});
