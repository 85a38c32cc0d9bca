import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { startOffline, stopTree, waitForHttp } from '../../scripts/process-tree';
import { createTestDatabase, type TestDatabase } from './db';

/** A free TCP port on the loopback interface. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

export interface ServiceOptions {
  env?: Record<string, string>;
  /** Also run the queue bridge (as its own process, as `npm start` runs it). */
  bridge?: boolean;
}

export interface RunningService {
  baseUrl: string;
  lambdaUrl: string;
  db: TestDatabase;
  env: NodeJS.ProcessEnv;
  offline: ChildProcess;
  bridge?: ChildProcess;
  output(): string;
  /** Starts the bridge process (again, after a kill). */
  startBridge(): Promise<ChildProcess>;
}

/** Starts `serverless offline` on free ports over a fresh database for this test file, and stops it afterwards. */
export function useService(options: ServiceOptions = {}): RunningService {
  const extraEnv = options.env ?? {};
  const svc = {} as RunningService;
  let log = '';
  beforeAll(async () => {
    svc.db = await createTestDatabase();
    const [httpPort, lambdaPort] = [await freePort(), await freePort()];
    svc.env = {
      ...process.env,
      NODE_ENV: 'development',
      LOG_LEVEL: 'WARN',
      QUEUE_DRIVER: 'postgres',
      ...extraEnv,
      DATABASE_URL: svc.db.url,
      HTTP_PORT: String(httpPort),
      LAMBDA_PORT: String(lambdaPort),
      HTTP_HOST: '127.0.0.1',
    };
    svc.offline = startOffline(svc.env);
    svc.offline.stdout?.on('data', (d) => (log += d));
    svc.offline.stderr?.on('data', (d) => (log += d));
    svc.baseUrl = `http://127.0.0.1:${httpPort}`;
    svc.lambdaUrl = `http://127.0.0.1:${lambdaPort}`;
    svc.output = () => log;
    svc.startBridge = async () => {
      const child = spawn(path.resolve('node_modules/.bin/tsx'), ['scripts/bridge.ts'], {
        env: svc.env,
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
      });
      child.stdout?.on('data', (d) => (log += d));
      child.stderr?.on('data', (d) => (log += d));
      svc.bridge = child;
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`the bridge did not start\n${log.slice(-2000)}`)), 30_000);
        child.stdout?.on('data', (d: Buffer) => {
          if (d.toString().includes('Bridge consuming')) {
            clearTimeout(timer);
            resolve();
          }
        });
        child.once('exit', (code) => reject(new Error(`the bridge exited with code ${code}\n${log.slice(-2000)}`)));
      });
      return child;
    };
    try {
      await waitForHttp(`${svc.baseUrl}/health`, 90_000, svc.offline);
      if (options.bridge) await svc.startBridge();
    } catch (err) {
      throw new Error(`${(err as Error).message}\n--- serverless offline output ---\n${log.slice(-4000)}`);
    }
  });
  afterAll(async () => {
    if (svc.bridge) await stopTree(svc.bridge);
    if (svc.offline) await stopTree(svc.offline);
    await svc.db?.drop();
  });
  return svc;
}

/** Sends a request and parses a JSON answer. */
export async function request(
  baseUrl: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; body: any; text: string }> {
  const init: RequestInit = { method, headers: { ...headers }, signal: AbortSignal.timeout(30_000) };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    (init.headers as Record<string, string>)['content-type'] ??= 'application/json';
  }
  const res = await fetch(`${baseUrl}${path}`, init);
  const text = await res.text();
  let parsed: unknown = text;
  if ((res.headers.get('content-type') ?? '').includes('json') && text) parsed = JSON.parse(text);
  return { status: res.status, headers: res.headers, body: parsed, text };
}
