import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import path from 'node:path';
import { lineFilter } from '#local/console';

const ROOT = path.resolve(__dirname, '..');

/** Node's flags for a CPU profile written into `dir` (Node 20 does not take `--cpu-prof` from NODE_OPTIONS). */
const cpuProfFlags = (dir: string | undefined): string[] => (dir ? ['--cpu-prof', `--cpu-prof-dir=${dir}`] : []);

/** Runs a Node script of this project in its own process group, so that the whole tree can be stopped at once. */
function spawnNode(args: string[], env: NodeJS.ProcessEnv, profileDir?: string): ChildProcess {
  return spawn(process.execPath, [...cpuProfFlags(profileDir), ...args], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
}

/** Starts `serverless offline` (with a CPU profile written into `profileDir`, if given). */
export function startOffline(env: NodeJS.ProcessEnv, profileDir?: string): ChildProcess {
  return spawnNode([path.join(ROOT, 'node_modules/serverless/bin/serverless.js'), 'offline', 'start', '--stage', 'local'], env, profileDir);
}

/** Keeps the last `max` characters a child wrote (and drains its pipes, so that it never blocks on them). */
export function captureOutput(child: ChildProcess, max = 20_000): () => string {
  let log = '';
  const add = (d: Buffer) => {
    log = (log + d.toString()).slice(-max);
  };
  child.stdout?.on('data', add);
  child.stderr?.on('data', add);
  return () => log;
}

/** Starts the queue bridge (`scripts/bridge.ts`) and waits until it consumes. */
export async function startBridgeProcess(
  env: NodeJS.ProcessEnv,
  { profileDir, timeoutMs = 30_000 }: { profileDir?: string; timeoutMs?: number } = {},
): Promise<{ child: ChildProcess; output: () => string }> {
  const child = spawnNode(['--import', 'tsx', 'scripts/bridge.ts'], env, profileDir);
  const output = captureOutput(child);
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the bridge did not start within ${timeoutMs} ms`)), timeoutMs);
      // Against all the output so far (the line may come split over two chunks), until it has come.
      const started = () => {
        if (!output().includes('Bridge consuming')) return;
        clearTimeout(timer);
        child.stdout?.off('data', started);
        resolve();
      };
      child.stdout?.on('data', started);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`the bridge exited with code ${code}`));
      });
    });
  } catch (err) {
    await killTree(child);
    throw new Error(`${(err as Error).message}\n${output()}`);
  }
  return { child, output };
}

/** Copies a child's output to ours, line by line through `filter` (a new one per stream: filters keep state). */
export function forwardOutput(child: ChildProcess, filter: () => (line: string) => string | undefined): void {
  child.stdout?.on(
    'data',
    lineFilter(filter(), (text) => process.stdout.write(text)),
  );
  child.stderr?.on(
    'data',
    lineFilter(filter(), (text) => process.stderr.write(text)),
  );
}

/** Sends `sig` to the process group of a child started with `detached: true`; undefined once it has exited. */
function groupSignaller(child: ChildProcess | undefined): ((sig: NodeJS.Signals) => void) | undefined {
  if (!child || child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return undefined;
  const pid = child.pid;
  return (sig) => {
    try {
      process.kill(-pid, sig);
    } catch {}
  };
}

/** Stops a process group started with `detached: true`: SIGTERM, then SIGKILL after `graceMs`. */
export async function stopTree(child: ChildProcess, graceMs = 5_000): Promise<void> {
  const signal = groupSignaller(child);
  if (!signal) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  signal('SIGTERM');
  const timer = setTimeout(() => signal('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
  signal('SIGKILL');
}

/** Sends SIGKILL to a child's whole process group at once (a crash, not a shutdown). */
export async function killTree(child: ChildProcess | undefined): Promise<void> {
  const signal = groupSignaller(child);
  if (!child || !signal) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  signal('SIGKILL');
  await exited;
}

/** Polls `url` until it answers (any status below 500 or 503), or throws after `timeoutMs`. */
export async function waitForHttp(url: string, timeoutMs: number, child?: ChildProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child && child.exitCode !== null) throw new Error(`serverless offline exited with code ${child.exitCode}`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      await res.arrayBuffer();
      if (res.status < 500 || res.status === 503) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms`);
}

/** A free TCP port on the loopback interface. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}
