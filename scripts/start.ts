import path from 'node:path';
import { config, resetConfig } from '#lib/config';
import { migrateDatabase } from '#lib/db/migrate';
import { closeQueue } from '#lib/queue/client';
import { settleWithin } from '#lib/time';
import { type Bridge, bridgeOptionsFromConfig, startBridge } from '#local/bridge';
import { buildDashboardIfStale } from '#local/dashboard-build';
import { type EmbeddedServer, startEmbeddedPostgres } from '#local/embedded-postgres';
import { forwardOutput, startOffline, stopTree, waitForHttp } from '#local/process-tree';

// `npm start`: the database (embedded unless DATABASE_URL is set), migrations, serverless-offline and the
// queue bridge. Ctrl-C stops everything it started.
const EMBEDDED_PORT = Number(process.env.EMBEDDED_PG_PORT ?? 54329);
const EMBEDDED_DIR = path.resolve(process.env.EMBEDDED_PG_DIR ?? path.join(__dirname, '../.data/postgres'));

let embedded: Promise<EmbeddedServer> | undefined;
let offline: ReturnType<typeof startOffline> | undefined;
let bridge: Bridge | undefined;
let stopping: Promise<void> | undefined;

/** Stops what was started, in order, once (a second call waits for the first), then exits with `code`. */
async function stop(code: number): Promise<never> {
  stopping ??= (async () => {
    console.log('\nStopping: no new messages are taken; running tasks get up to 10 s to finish...');
    await bridge?.stop(10_000).catch(() => {});
    await closeQueue().catch(() => {});
    if (offline) await stopTree(offline);
    // Also when stopped while it was starting; a server that does not stop within 15 s is left to its own exit.
    const server = await embedded?.catch(() => undefined);
    if (server) await settleWithin(server.stop(), 15_000);
    console.log('Stopped.');
  })();
  await stopping;
  process.exit(code);
}

async function main() {
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));
  config();
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
  offline = startOffline({ ...process.env, HTTP_PORT: httpPort, LAMBDA_PORT: lambdaPort });
  forwardOutput(offline);
  offline.on('exit', (code) => {
    // During a shutdown this is expected, and the shutdown goes on (with the database still to stop).
    if (stopping) return;
    console.error(`serverless offline exited (code ${code}).`);
    void stop(code ?? 1);
  });
  const base = `http://localhost:${httpPort}`;
  await waitForHttp(`${base}/health`, 120_000, offline);
  bridge = await startBridge(bridgeOptionsFromConfig(`http://127.0.0.1:${lambdaPort}`));
  console.log(
    `\nAsync Task Service is running (queue: ${c.QUEUE_DRIVER}, ${c.WORKER_CONCURRENCY} task runs at once, up to ${c.WORKER_BATCH_SIZE} per invocation)`,
  );
  console.log(`  Dashboard: ${base}/dashboard`);
  console.log(`  API:       ${base}/api/v1/tasks`);
  console.log(`  Docs:      ${base}/docs`);
  console.log(`  OpenAPI:   ${base}/openapi.json`);
  console.log(`  Health:    ${base}/health`);
  console.log('Press Ctrl-C to stop.');
}

main().catch(async (err) => {
  console.error(err instanceof Error ? err.message : err);
  await stop(1);
});
