import { readdirSync, readFileSync } from 'node:fs';

const PAGE_BYTES = 4096;
const CLOCK_TICKS = 100;

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
