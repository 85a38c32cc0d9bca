import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateDatabase } from '#lib/db/migrate';
import { type EmbeddedServer, startEmbeddedPostgres } from '#local/embedded-postgres';
import { requireRabbitMq, startTcpProxy, type TcpProxy } from '../helpers/external-services';
import { type Audit, auditUntilSettled, report, type Sent, startLoad, startRateLoad } from '../helpers/faults';
import { freePort, killTree, request, useService } from '../helpers/offline';

// Tests that break things: every task accepted with 201 must reach a terminal status, and none may complete twice.
const QUICK = { duration_ms: 50, failure_rate: 0 };
const acceptedIds = (sent: Sent[]) => sent.filter((s) => s.status === 201 && s.id).map((s) => s.id as string);

function expectNothingLost(a: Audit) {
  expect(a.missing).toBe(0);
  expect(a.stranded).toEqual([]);
  expect(a.stuck).toEqual([]);
  expect(a.terminal).toBe(a.accepted);
  expect(a.duplicates).toEqual([]);
}

const rabbit = await requireRabbitMq();

/** The service and its bridge on RabbitMQ behind a TCP proxy that a test can cut, for one describe block. */
function useServiceBehindProxy(name: string, env: Record<string, string>) {
  const holder: { proxy?: TcpProxy } = {};
  beforeAll(async () => {
    holder.proxy = await startTcpProxy(process.env.RABBITMQ_URL ?? 'amqp://guest:guest@127.0.0.1:5672');
  });
  afterAll(async () => holder.proxy?.close());
  const svc = useService({
    bridge: true,
    env: () => ({
      QUEUE_DRIVER: 'rabbitmq',
      RABBITMQ_URL: (holder.proxy as TcpProxy).url,
      QUEUE_NAMESPACE: `${name}_${process.pid}`,
      RABBITMQ_QUEUE_EXPIRES_MS: '600000',
      ...env,
    }),
  });
  return { svc, proxy: () => holder.proxy as TcpProxy };
}

describe.runIf(rabbit)('RabbitMQ goes away while tasks are created and processed', () => {
  const { svc, proxy } = useServiceBehindProxy('faults', {
    QUEUE_PUBLISH_TIMEOUT_MS: '1000',
    OUTBOX_INTERVAL_MS: '500',
    WORKER_CONCURRENCY: '20',
    WORKER_BATCH_SIZE: '5',
  });

  it('accepts every task (NEW while down), and runs each exactly once after the broker is back', async () => {
    const load = startLoad(svc.baseUrl, { title: 'during an outage', payload: QUICK }, 4, 400);
    await sleep(1_500);
    await proxy().pause();
    await sleep(3_000);
    await proxy().resume();
    const back = Date.now();
    await sleep(1_500);
    await load.stop();
    const during = load.sent.filter((s) => s.status === 201 && s.taskStatus === 'NEW').length;
    const a = await auditUntilSettled(svc.databaseUrl, acceptedIds(load.sent), back, 60_000);
    report('rabbitmq outage', load.sent, a);
    expect(load.sent.every((s) => s.status === 201)).toBe(true);
    expect(during).toBeGreaterThan(0);
    expectNothingLost(a);
    expect(a.completed).toBe(a.accepted);
  });
});

describe.runIf(rabbit)('RabbitMQ stops for 6 s under 50 creates/s, with the default publish timeout', () => {
  // The dispatcher looks often, so that it publishes rows whose creates are still failing.
  const { svc, proxy } = useServiceBehindProxy('stop', { OUTBOX_INTERVAL_MS: '500' });

  // Creates whose publish fails (their connection still waiting to reconnect) after the broker is back, while the
  // dispatcher (a connection of its own) publishes the same rows: the timing that left tasks in NEW with no outbox row.
  it('strands nothing and runs each task once', async () => {
    const load = startRateLoad(svc.baseUrl, { title: 'through a stop', payload: QUICK }, 50);
    await sleep(1_500);
    await proxy().pause();
    await sleep(6_000);
    await proxy().resume();
    const back = Date.now();
    await sleep(1_500);
    await load.stop();
    const a = await auditUntilSettled(svc.databaseUrl, acceptedIds(load.sent), back, 60_000);
    report('rabbitmq stop of 6 s at 50 creates/s', load.sent, a);
    expect(load.sent.filter((s) => s.status !== 201)).toEqual([]);
    expect(load.sent.filter((s) => s.taskStatus === 'NEW').length).toBeGreaterThan(0);
    expectNothingLost(a);
    expect(a.ranTwice).toEqual([]);
    // A run of 700 ms may pass its 1 s timeout on a loaded machine; no other failure is expected.
    expect(Object.keys(a.errors).filter((e) => e !== 'timeout')).toEqual([]);
  });
});

describe.each(rabbit ? (['postgres', 'rabbitmq'] as const) : (['postgres'] as const))('workers die (%s)', (driver) => {
  const svc = useService({
    bridge: true,
    env: {
      QUEUE_DRIVER: driver,
      QUEUE_NAMESPACE: `kill_${driver}_${process.pid}`,
      RABBITMQ_QUEUE_EXPIRES_MS: '600000',
      OUTBOX_INTERVAL_MS: '500',
      // Four slots: the tasks created in the first second are still running, or waiting, when a worker dies.
      WORKER_CONCURRENCY: '4',
      WORKER_BATCH_SIZE: '5',
    },
  });
  const slow = { title: 'slow', timeout_ms: 3_000, payload: { duration_ms: 1_500, failure_rate: 0 } };

  it('the bridge is killed (SIGKILL) in the middle of a batch and started again', async () => {
    const load = startLoad(svc.baseUrl, slow, 2, 15);
    await sleep(2_000);
    await killTree(svc.bridge);
    const killed = Date.now();
    await sleep(1_000);
    await svc.startBridge();
    await load.stop();
    const a = await auditUntilSettled(svc.databaseUrl, acceptedIds(load.sent), killed, 60_000);
    report(`bridge SIGKILL (${driver})`, load.sent, a);
    expectNothingLost(a);
    expect(a.completed).toBe(a.accepted);
  });

  it('the bridge shuts down gracefully (SIGTERM): running tasks finish, the rest wait in the queue', async () => {
    const load = startLoad(svc.baseUrl, slow, 2, 10);
    await sleep(2_000);
    const bridge = svc.bridge as NonNullable<typeof svc.bridge>;
    const exited = new Promise<number | null>((resolve) => bridge.once('exit', (code) => resolve(code)));
    const asked = Date.now();
    process.kill(-(bridge.pid as number), 'SIGTERM');
    const code = await exited;
    const tookMs = Date.now() - asked;
    await load.stop();
    const inProgress = (await request(svc.baseUrl, 'GET', '/api/v1/tasks?status=IN_PROGRESS')).body.total as number;
    await svc.startBridge();
    const a = await auditUntilSettled(svc.databaseUrl, acceptedIds(load.sent), asked, 60_000);
    report(`bridge SIGTERM (${driver}), stopped in ${tookMs} ms`, load.sent, a);
    expect(code).toBe(0);
    expect(tookMs).toBeLessThan(12_000);
    expect(inProgress).toBe(0);
    expectNothingLost(a);
    expect(a.runs).toBe(a.accepted);
  });

  it('serverless-offline (the running functions) is killed; lost tasks run again within 30 s, whatever their timeout', async () => {
    // The type's default timeout (14 minutes): only the heartbeat can tell that these runs are lost.
    const load = startLoad(svc.baseUrl, { title: 'default timeout', payload: { duration_ms: 1_500, failure_rate: 0 } }, 2, 10);
    await sleep(2_500);
    const running = (await request(svc.baseUrl, 'GET', '/api/v1/tasks?status=IN_PROGRESS')).body.total as number;
    await killTree(svc.offline);
    const killed = Date.now();
    await load.stop();
    await svc.startOffline();
    const backMs = Date.now() - killed;
    const a = await auditUntilSettled(svc.databaseUrl, acceptedIds(load.sent), killed, 60_000);
    report(
      `functions SIGKILL (${driver}), ${running} running at the kill, serverless-offline back after ${backMs} ms`,
      load.sent.filter((s) => s.status !== 0),
      a,
    );
    expect(running).toBeGreaterThan(0);
    expectNothingLost(a);
    expect(a.completed).toBe(a.accepted);
    expect(a.runs).toBeGreaterThan(a.accepted);
    // Within 30 s of the kill, or at once if serverless-offline (which also runs the maintenance) took longer to
    // start again than the lease.
    expect(a.longestRestartMs).toBeGreaterThan(0);
    expect(a.longestRestartMs).toBeLessThan(Math.max(30_000, backMs + 5_000));
  });
});

describe('PostgreSQL restarts under load', () => {
  let pgServer: EmbeddedServer;
  let dir: string;
  let port: number;
  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'tasks-faults-pg-'));
    chmodSync(dir, 0o755); // the server may run as another user (postgres, when the tests run as root)
    port = await freePort();
    pgServer = await startEmbeddedPostgres({ port, persistent: true, dir: path.join(dir, 'data'), database: 'tasks' });
    await migrateDatabase(pgServer.url);
  });
  afterAll(async () => {
    await pgServer?.stop().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  });
  const svc = useService({ bridge: true, env: () => ({ DATABASE_URL: pgServer.url, OUTBOX_INTERVAL_MS: '500' }) });

  it('answers 503 with a problem body while it is down, recovers by itself, and loses nothing accepted', async () => {
    const load = startLoad(svc.baseUrl, { title: 'db restart', payload: QUICK }, 4, 400);
    await sleep(1_500);
    await pgServer.stop();
    await sleep(1_000);
    const down = await request(svc.baseUrl, 'POST', '/api/v1/tasks', { title: 'while the database is down' });
    const downGet = await request(svc.baseUrl, 'GET', '/api/v1/tasks');
    await sleep(1_000);
    pgServer = await startEmbeddedPostgres({ port, persistent: true, dir: path.join(dir, 'data'), database: 'tasks' });
    const back = Date.now();
    await sleep(3_000);
    await load.stop();
    const after = await request(svc.baseUrl, 'POST', '/api/v1/tasks', { title: 'after the restart', payload: QUICK });
    const a = await auditUntilSettled(svc.databaseUrl, [...acceptedIds(load.sent), after.body.id], back, 60_000);
    report('postgresql restart', load.sent, a);
    for (const res of [down, downGet]) {
      expect(res.status).toBe(503);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
      expect(res.body).toMatchObject({
        status: 503,
        title: 'Service Unavailable',
        detail: 'The database is unreachable; try again shortly',
      });
      expect(res.text).not.toMatch(/ECONNREFUSED|at .*\.(ts|js):\d+/);
    }
    expect(load.sent.filter((s) => s.status !== 201 && s.status !== 503)).toEqual([]);
    expect(load.sent.filter((s) => s.status === 503).length).toBeGreaterThan(0);
    expect(after.status).toBe(201);
    expectNothingLost(a);
  });

  // Runs that end while the database is away cannot record their outcome until it is back; their lease must not
  // lapse meanwhile, or their tasks run twice.
  it('runs no task twice when the database stops for 5 s while 1 s-timeout tasks run', async () => {
    const body = { title: 'short timeout', timeout_ms: 1_000, payload: { duration_ms: 700, failure_rate: 0 } };
    const load = startRateLoad(svc.baseUrl, body, 20);
    await sleep(2_000);
    await pgServer.stop();
    await sleep(5_000);
    pgServer = await startEmbeddedPostgres({ port, persistent: true, dir: path.join(dir, 'data'), database: 'tasks' });
    const back = Date.now();
    await sleep(2_000);
    await load.stop();
    const a = await auditUntilSettled(svc.databaseUrl, acceptedIds(load.sent), back, 60_000);
    report('postgresql stop of 5 s with 1 s-timeout tasks', load.sent, a);
    expect(load.sent.filter((s) => s.status !== 201 && s.status !== 503)).toEqual([]);
    expectNothingLost(a);
    expect(a.ranTwice).toEqual([]);
    // A run of 700 ms may pass its 1 s timeout on a loaded machine; no other failure is expected.
    expect(Object.keys(a.errors).filter((e) => e !== 'timeout')).toEqual([]);
  });
});
