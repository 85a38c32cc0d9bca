import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..');
const PAGE_BYTES = 4096;
const CLOCK_TICKS = 100;

export { freePort } from '../scripts/process-tree';

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

/** Node's flags for a CPU profile written into `dir` (Node 20 does not take `--cpu-prof` from NODE_OPTIONS). */
export const cpuProfFlags = (dir: string | undefined): string[] => (dir ? ['--cpu-prof', `--cpu-prof-dir=${dir}`] : []);

/** Starts `serverless offline` under `node --cpu-prof`, as its own process group (as `startOffline` does). */
export function startProfiledOffline(env: NodeJS.ProcessEnv, dir: string): ChildProcess {
  return spawn(
    process.execPath,
    [...cpuProfFlags(dir), path.join(ROOT, 'node_modules/serverless/bin/serverless.js'), 'offline', 'start', '--stage', 'local'],
    {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    },
  );
}

/** Starts the queue bridge (`scripts/bridge.ts`) as its own process group and waits until it consumes. */
export async function startBridgeProcess(
  env: NodeJS.ProcessEnv,
  profileDir?: string,
  timeoutMs = 30_000,
): Promise<{ child: ChildProcess; output: () => string }> {
  const child = spawn(process.execPath, [...cpuProfFlags(profileDir), '--import', 'tsx', 'scripts/bridge.ts'], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const output = captureOutput(child);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the bridge did not start within ${timeoutMs} ms\n${output()}`)), timeoutMs);
    child.stdout?.on('data', (d: Buffer) => {
      if (d.toString().includes('Bridge consuming')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the bridge exited with code ${code}\n${output()}`));
    });
  });
  return { child, output };
}

/** Resident memory (bytes) and CPU time used so far (ms) of every process in a process group (Linux `/proc`; 0 elsewhere). */
export function groupUsage(pgid: number | undefined): { rss: number; cpuMs: number } {
  const usage = { rss: 0, cpuMs: 0 };
  if (!pgid) return usage;
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((p) => /^\d+$/.test(p));
  } catch {
    return usage;
  }
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      // Fields after the command name (which may hold spaces): state ppid pgrp ...; utime, stime and rss are the
      // 14th, 15th and 24th fields overall.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[2]) !== pgid) continue;
      usage.rss += Number(fields[21]) * PAGE_BYTES;
      usage.cpuMs += ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
    } catch {}
  }
  return usage;
}

/** Samples the peak RSS of some process groups, and the CPU time they use, until stopped. */
export function usageSampler(groups: Record<string, number | undefined>, everyMs = 200) {
  const peak: Record<string, number> = Object.fromEntries(Object.keys(groups).map((k) => [k, 0]));
  const cpuAtStart = Object.fromEntries(Object.entries(groups).map(([k, pgid]) => [k, groupUsage(pgid).cpuMs]));
  const cpu: Record<string, number> = {};
  const sample = () => {
    for (const [name, pgid] of Object.entries(groups)) {
      const u = groupUsage(pgid);
      peak[name] = Math.max(peak[name] ?? 0, u.rss);
      cpu[name] = u.cpuMs - (cpuAtStart[name] ?? 0);
    }
  };
  sample();
  const timer = setInterval(sample, everyMs);
  return {
    /** Peak RSS in bytes and CPU time in ms, by group. */
    stop(): { peak: Record<string, number>; cpuMs: Record<string, number> } {
      clearInterval(timer);
      sample();
      return { peak, cpuMs: cpu };
    },
  };
}
