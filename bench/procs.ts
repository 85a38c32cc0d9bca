import { readdirSync, readFileSync, writeFileSync } from 'node:fs';

// What the benchmark reads of the machine's processes (Linux /proc; everything reads as 0 elsewhere): CPU time by
// process, so that each system's CPU per task counts every process it uses, and peak memory of process groups.
// Read by hand: the few fields needed from /proc/<pid>/stat and status; the libraries that read them (pidusage and
// the like) sample one process at a time and know nothing of process groups or PostgreSQL's backends.

const PAGE_BYTES = 4096;
const CLOCK_TICKS = 100;

interface Proc {
  pid: number;
  /** The command name (15 characters at most), e.g. `postgres`, `beam.smp`, `redis-server`, `node`. */
  comm: string;
  pgrp: number;
  /** utime + stime so far, ms. */
  cpuMs: number;
  rss: number;
  /** PostgreSQL's process title (`postgres: 15/main: <user> <database> <host> <state>` for a client backend). */
  title?: string;
}

/** Every process's CPU time at one moment, keyed by pid and start time (a pid may be reused). */
export type CpuSnapshot = Map<string, Proc>;

function readProcs(): CpuSnapshot {
  const procs: CpuSnapshot = new Map();
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((p) => /^\d+$/.test(p));
  } catch {
    return procs;
  }
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      // Fields after the command name (which may hold spaces): state ppid pgrp ...; utime, stime, starttime and rss
      // are the 14th, 15th, 22nd and 24th fields overall.
      const close = stat.lastIndexOf(')');
      const comm = stat.slice(stat.indexOf('(') + 1, close);
      const f = stat.slice(close + 2).split(' ');
      const proc: Proc = {
        pid: Number(pid),
        comm,
        pgrp: Number(f[2]),
        cpuMs: ((Number(f[11]) + Number(f[12])) * 1000) / CLOCK_TICKS,
        rss: Number(f[21]) * PAGE_BYTES,
      };
      if (comm === 'postgres') proc.title = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0+$/, '').replace(/\0/g, ' ');
      procs.set(`${pid}:${f[19]}`, proc);
    } catch {}
  }
  return procs;
}

export const cpuSnapshot = (): CpuSnapshot => readProcs();

/** The machine's busy CPU time so far, all cores, ms (/proc/stat: everything but idle and iowait). */
export function machineBusyMs(): number {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    const n = line.trim().split(/\s+/).slice(1).map(Number);
    const total = n.slice(0, 8).reduce((a, b) => a + b, 0);
    return ((total - (n[3] ?? 0) - (n[4] ?? 0)) * 1000) / CLOCK_TICKS;
  } catch {
    return 0;
  }
}

/**
 * Which processes a class of the report counts: process groups (our node processes), command names (RabbitMQ's
 * Erlang VM and helpers, Redis), or PostgreSQL: every process of the server except the client backends of other
 * databases (the server's shared processes, the WAL writer, checkpointer and so on, work for every database).
 */
export type ProcessClass = { groups: Array<number | undefined> } | { comms: string[] } | { postgres: string };

export const RABBITMQ_PROCESSES: ProcessClass = { comms: ['beam.smp', 'erl_child_setup', 'epmd', 'inet_gethost'] };
export const REDIS_PROCESSES: ProcessClass = { comms: ['redis-server'] };

function matches(p: Proc, cls: ProcessClass): boolean {
  if ('groups' in cls) return cls.groups.includes(p.pgrp);
  if ('comms' in cls) return cls.comms.includes(p.comm);
  if (p.comm !== 'postgres') return false;
  // `postgres: <cluster>: <user> <database> <host>(<port>) <state>`, or a shared process (`postgres: <cluster>: walwriter`).
  const words = (p.title ?? '').split(' ');
  const backend = words.findIndex((w) => /\(\d+\)$|^\[local\]$/.test(w));
  return backend < 0 || words[backend - 1] === cls.postgres;
}

/** CPU time (ms) the processes of `cls` used between two snapshots; a process started in between counts whole. */
export function cpuBetween(before: CpuSnapshot, after: CpuSnapshot, cls: ProcessClass): number {
  let ms = 0;
  for (const [key, p] of after) {
    if (!matches(p, cls)) continue;
    ms += p.cpuMs - (before.get(key)?.cpuMs ?? 0);
  }
  return ms;
}

/** CPU time (ms) of the processes of `cls` so far. */
export function cpuOf(snapshot: CpuSnapshot, cls: ProcessClass): number {
  let ms = 0;
  for (const p of snapshot.values()) if (matches(p, cls)) ms += p.cpuMs;
  return ms;
}

const groupPids = (pgid: number | undefined) => (pgid ? [...readProcs().values()].filter((p) => p.pgrp === pgid).map((p) => p.pid) : []);

/** Starts the peak-memory count of a process group afresh (`clear_refs` 5 resets VmHWM; best effort). */
export function resetPeakRss(pgid: number | undefined): void {
  for (const pid of groupPids(pgid)) {
    try {
      writeFileSync(`/proc/${pid}/clear_refs`, '5');
    } catch {}
  }
}

/**
 * Peak resident memory (bytes) of a process group since it started or since resetPeakRss: the kernel's own high-water
 * mark of each process (VmHWM), added up, so that no sampling runs during a measurement.
 */
export function peakRss(pgid: number | undefined): number {
  let bytes = 0;
  for (const pid of groupPids(pgid)) {
    try {
      const kb = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
      bytes += Number(kb ?? 0) * 1024;
    } catch {}
  }
  return bytes;
}
