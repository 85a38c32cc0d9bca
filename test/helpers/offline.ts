import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll } from 'vitest';
import { captureOutput, freePort, killTree, startBridgeProcess, startOffline, stopTree, waitForHttp } from '#local/process-tree';

export { freePort, killTree };

import { createTestDatabase } from './db';

// serverless-offline (and, if asked, the queue bridge) for one test file, over a database of its own.

export interface ServiceOptions {
  /** Extra environment; a function is called when the service starts (after earlier beforeAll hooks). */
  env?: Record<string, string> | (() => Record<string, string>);
  /** Also run the queue bridge (as its own process, as `npm start` runs it). */
  bridge?: boolean;
}

export interface RunningService {
  baseUrl: string;
  lambdaUrl: string;
  /** The service's database (a fresh test database unless the env named one). */
  databaseUrl: string;
  env: NodeJS.ProcessEnv;
  offline: ChildProcess;
  bridge?: ChildProcess;
  /** Starts serverless-offline (again, after a kill) and waits until it answers. */
  startOffline(): Promise<ChildProcess>;
  /** Starts the bridge process (again, after a kill). */
  startBridge(): Promise<ChildProcess>;
}

/** Starts `serverless offline` on free ports over a fresh database for this test file, and stops it afterwards. */
export function useService(options: ServiceOptions = {}): RunningService {
  const svc = {} as RunningService;
  let stop: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    const extraEnv = typeof options.env === 'function' ? options.env() : (options.env ?? {});
    ({ stop } = await startService({ ...options, env: extraEnv }, svc));
  });
  afterAll(async () => {
    await stop?.();
  });
  return svc;
}

/**
 * Starts `serverless offline` (and the bridge, if asked) on free ports over a fresh database, unless the env names
 * one, filling in `svc`; answers how to stop it all (and drop that fresh database).
 */
export async function startService(
  options: ServiceOptions & { env?: Record<string, string> },
  svc = {} as RunningService,
): Promise<{ svc: RunningService; stop: () => Promise<void> }> {
  const extraEnv = options.env ?? {};
  let dropDatabase: (() => Promise<void>) | undefined;
  if (extraEnv.DATABASE_URL) svc.databaseUrl = extraEnv.DATABASE_URL;
  else {
    const db = await createTestDatabase();
    await db.pool.end();
    svc.databaseUrl = db.url;
    dropDatabase = db.drop;
  }
  const [httpPort, lambdaPort] = [await freePort(), await freePort()];
  svc.env = {
    ...process.env,
    NODE_ENV: 'development',
    LOG_LEVEL: 'WARN',
    QUEUE_DRIVER: 'postgres',
    ...extraEnv,
    DATABASE_URL: svc.databaseUrl,
    HTTP_PORT: String(httpPort),
    LAMBDA_PORT: String(lambdaPort),
    // The tests reach the service on 127.0.0.1 either way; some check what a wider host changes.
    HTTP_HOST: extraEnv.HTTP_HOST ?? '127.0.0.1',
  };
  svc.baseUrl = `http://127.0.0.1:${httpPort}`;
  svc.lambdaUrl = `http://127.0.0.1:${lambdaPort}`;
  svc.startOffline = async () => {
    svc.offline = startOffline(svc.env);
    const output = captureOutput(svc.offline);
    try {
      await waitForHttp(`${svc.baseUrl}/health`, 90_000, svc.offline);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n--- serverless offline output ---\n${output().slice(-4000)}`);
    }
    return svc.offline;
  };
  svc.startBridge = async () => {
    const { child } = await startBridgeProcess(svc.env);
    svc.bridge = child;
    return child;
  };
  const stop = async () => {
    if (svc.bridge) await stopTree(svc.bridge);
    if (svc.offline) await stopTree(svc.offline);
    await dropDatabase?.();
  };
  try {
    await svc.startOffline();
    if (options.bridge) await svc.startBridge();
  } catch (err) {
    await stop();
    throw err;
  }
  return { svc, stop };
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
