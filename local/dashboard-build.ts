import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const ROOT = path.resolve(__dirname, '..');
const BUILT = path.join(ROOT, 'dashboard/dist/index.html');
const VITE = path.join(ROOT, 'node_modules/.bin/vite');
// Test files running at once may each find the build stale: one builds, the others wait for it.
const LOCK = path.join(ROOT, 'dashboard/.build-lock');
const LOCK_STALE_MS = 120_000;
// What the page is built from: its own sources and the modules of the service it takes its types and lists from.
const SOURCES = [
  'dashboard/src',
  'dashboard/public',
  'dashboard/index.html',
  'dashboard/vite.config.ts',
  'lib/tasks/schemas.ts',
  'lib/model.ts',
];

function newest(p: string): number {
  if (!existsSync(p)) return 0;
  const st = statSync(p);
  if (!st.isDirectory()) return st.mtimeMs;
  return Math.max(0, ...readdirSync(p).map((name) => newest(path.join(p, name))));
}

/**
 * Whether dashboard/dist is missing or older than any of its sources. An install without Vite (the Docker image, which
 * builds the dashboard in a stage of its own) keeps the build it was shipped with, whatever the files' times say.
 */
export function dashboardIsStale(): boolean {
  if (!existsSync(BUILT)) return true;
  if (!existsSync(VITE)) return false;
  const built = statSync(BUILT).mtimeMs;
  return SOURCES.some((s) => newest(path.join(ROOT, s)) > built);
}

async function withLock<T>(fn: () => Promise<T>): Promise<T> {
  for (;;) {
    try {
      mkdirSync(LOCK);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      // A lock left by a build that was killed is taken over.
      const age = Date.now() - (statSync(LOCK, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
      if (age > LOCK_STALE_MS) rmSync(LOCK, { recursive: true, force: true });
      await sleep(200);
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(LOCK, { recursive: true, force: true });
  }
}

/** Builds the dashboard with Vite when it is missing or stale; `quiet` keeps Vite's output unless the build fails. */
export async function buildDashboardIfStale(options: { quiet?: boolean } = {}): Promise<boolean> {
  if (!dashboardIsStale()) return false;
  return withLock(async () => (dashboardIsStale() ? build(options) : false));
}

async function build(options: { quiet?: boolean }): Promise<boolean> {
  if (!options.quiet) console.log('Building the dashboard...');
  const child = spawn(VITE, ['build', 'dashboard', '--logLevel', 'warn'], {
    cwd: ROOT,
    // Tests and `npm start` run with NODE_ENV test or development, which would make Vite build a debug bundle.
    env: { ...process.env, NODE_ENV: 'production' },
    stdio: options.quiet ? ['ignore', 'pipe', 'pipe'] : 'inherit',
  });
  let output = '';
  child.stdout?.on('data', (d) => (output += d));
  child.stderr?.on('data', (d) => (output += d));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', resolve);
  });
  if (code !== 0) throw new Error(`the dashboard build failed (exit code ${code})\n${output.slice(-4000)}`);
  return true;
}
