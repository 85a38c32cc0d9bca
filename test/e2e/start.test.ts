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

    const created = await request(baseUrl, 'POST', '/api/v1/tasks', { title: 'started', payload: { duration_ms: 0, failure_rate: 0 } });
    expect(created.status).toBe(201);
    await waitUntil(
      'the task completing',
      async () => (await request(baseUrl, 'GET', `/api/v1/tasks/${created.body.id}`)).body.status === 'COMPLETED',
      30_000,
      100,
    );

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
