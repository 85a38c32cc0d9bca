import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { waitUntil } from '#lib/time';
import { captureOutput, freePort, killTree, waitForHttp } from '#local/process-tree';
import { isReachable } from '../helpers/external-services';
import { request } from '../helpers/offline';

// `npm start` with nothing set (embedded PostgreSQL, embedded queue), then a SIGTERM to its own process only, as a
// process manager sends it: everything it started must stop with it (a Ctrl-C reaches the whole terminal group).
describe('npm start', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'npm-start-'));
  // Run as root, the embedded server runs as the postgres user, which must be able to reach its data folder.
  chmodSync(dir, 0o755);
  let child: ChildProcess | undefined;
  // Inherited by everything npm start starts (serverless-offline runs in a process group of its own): after a
  // failure, whatever is left is found by it.
  const marker = `NPM_START_TEST=${path.basename(dir)}`;

  afterAll(async () => {
    await killTree(child);
    for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
      try {
        if (readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(marker)) process.kill(Number(pid), 'SIGKILL');
      } catch {}
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves the API, runs a task, and on SIGTERM stops serverless-offline, the bridge and the database', async () => {
    const [httpPort, lambdaPort, pgPort] = [await freePort(), await freePort(), await freePort()];
    child = spawn(process.execPath, ['--import', 'tsx', 'scripts/start.ts'], {
      env: {
        ...process.env,
        DATABASE_URL: '',
        QUEUE_DRIVER: '',
        HTTP_HOST: '127.0.0.1',
        HTTP_PORT: String(httpPort),
        LAMBDA_PORT: String(lambdaPort),
        EMBEDDED_PG_PORT: String(pgPort),
        EMBEDDED_PG_DIR: path.join(dir, 'postgres'),
        NPM_START_TEST: path.basename(dir),
        // The tests' own default is SILENT; npm start's console is part of what this test checks.
        LOG_LEVEL: 'INFO',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const output = captureOutput(child);
    const exited = new Promise<number | null>((resolve) => child?.once('exit', (code) => resolve(code)));
    const baseUrl = `http://127.0.0.1:${httpPort}`;
    try {
      await waitForHttp(`${baseUrl}/health`, 120_000, child);
      await waitUntil('the bridge starting', () => output().includes('is running'), 60_000, 100);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${output()}`);
    }

    const created = await request(
      baseUrl,
      'POST',
      '/api/v1/tasks',
      { title: 'started', payload: { duration_ms: 0, failure_rate: 0 } },
      { 'x-request-id': 'npm-start-create' },
    );
    expect(created.status).toBe(201);
    expect(created.headers.get('x-request-id')).toBe('npm-start-create');
    await waitUntil(
      'the task completing',
      async () => (await request(baseUrl, 'GET', `/api/v1/tasks/${created.body.id}`)).body.status === 'COMPLETED',
      30_000,
      100,
    );
    // serverless-offline's placeholder is never the id: a new UUID when the client sends none.
    const health = await request(baseUrl, 'GET', '/health');
    expect(health.headers.get('x-request-id')).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    // The dashboard's polling: no line unless LOG_REQUESTS=all.
    await request(baseUrl, 'GET', '/api/v1/stats', undefined, { referer: `${baseUrl}/dashboard/` });

    // Counters moved by every function's bundle add up in the one registry of serverless-offline's process.
    const metrics = await request(baseUrl, 'GET', '/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.text).toMatch(/^tasks_created_total\{type="emulate"\} 1$/m);
    expect(metrics.text).toMatch(/^tasks_finished_total\{type="emulate",status="COMPLETED"\} 1$/m);
    expect(metrics.text).toMatch(/^http_requests_total\{route="POST \/api\/v1\/tasks",status="201"\} 1$/m);

    // The console: the service's lines made short, the create's id on its task's runs, one line per request.
    await waitUntil('the log lines', () => output().includes('GET /metrics -> 200'), 10_000, 100);
    const lines = output().split('\n');
    expect(lines.filter((l) => l.includes('POST /api/v1/tasks -> 201'))).toHaveLength(1);
    expect(lines.some((l) => /to=COMPLETED/.test(l) && l.includes('request_id=npm-start-create'))).toBe(true);
    expect(output()).not.toMatch(/\(λ: \w+\)|Function names exposed|GET \/api\/v1\/stats ->|^\{"level"/m);
    expect(output(), 'no runs of blank lines').not.toMatch(/\n\s*\n\s*\n/);

    const stoppedAt = Date.now();
    process.kill(child.pid as number, 'SIGTERM');
    const code = await Promise.race([exited, new Promise((resolve) => setTimeout(() => resolve('still running'), 40_000))]);
    expect(await isReachable(`postgres://127.0.0.1:${pgPort}`), 'the embedded PostgreSQL is still running').toBe(false);
    expect(code, output()).toBe(0);
    expect(output()).toContain('Stopped.');
    expect(await isReachable(`http://127.0.0.1:${httpPort}`)).toBe(false);
    expect(await isReachable(`http://127.0.0.1:${lambdaPort}`)).toBe(false);
    console.log(`[start] stopped everything ${Date.now() - stoppedAt} ms after SIGTERM`);
  }, 300_000);
});
