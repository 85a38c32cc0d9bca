import { readFileSync } from 'node:fs';
import pg from 'pg';
import { describe, expect, inject, it } from 'vitest';
import { cpuBetween, cpuSnapshot, peakRss } from '../../bench/procs';

// The benchmark's CPU accounting read from /proc: what it counts for a process group and for PostgreSQL's backends.

const ownGroup = () => {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
};

function burn(ms: number) {
  const end = Date.now() + ms;
  let x = 0;
  while (Date.now() < end) x += Math.sqrt(x + 1);
  return x;
}

// The test run's server (test/setup/global.ts): DATABASE_URL's, or the embedded one started for the run.
const serverUrl = inject('databaseUrl');
const postgresVisible = [...cpuSnapshot().values()].some((p) => p.comm === 'postgres');

describe('bench/procs', () => {
  it('counts the CPU a process group used between two snapshots', () => {
    const group = { groups: [ownGroup()] };
    const before = cpuSnapshot();
    const self = process.cpuUsage();
    burn(300);
    const after = cpuSnapshot();
    const used = process.cpuUsage(self);
    const measured = cpuBetween(before, after, group);
    // /proc counts in clock ticks (10 ms); the group may hold other processes of the test run too.
    expect(measured).toBeGreaterThanOrEqual((used.user + used.system) / 1000 - 20);
    expect(measured).toBeLessThan(2_000);
    expect(peakRss(ownGroup())).toBeGreaterThan(10 * 1024 * 1024);
  });

  it.skipIf(!postgresVisible)("counts PostgreSQL's backends of its own database, not those of another", async () => {
    const client = new pg.Client({ connectionString: serverUrl });
    await client.connect();
    try {
      const { rows } = await client.query<{ db: string }>('SELECT current_database() AS db');
      const db = rows[0]?.db as string;
      const before = cpuSnapshot();
      await client.query('SELECT count(*) FROM generate_series(1, 4000000)');
      const after = cpuSnapshot();
      const own = cpuBetween(before, after, { postgres: db });
      const other = cpuBetween(before, after, { postgres: `${db}_not_this_one` });
      // The query's backend counts for its database only; the server's shared processes count for both.
      expect(own - other).toBeGreaterThanOrEqual(100);
    } finally {
      await client.end();
    }
  });
});
