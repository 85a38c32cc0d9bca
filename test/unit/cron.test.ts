import { describe, expect, it } from 'vitest';
import { canonicalTimeZone, cronProblem, nextRunAfter } from '#lib/tasks/cron';

/** The due times of `cron` in `timezone` after `from`, `n` of them, as ISO strings (UTC). */
function runs(cron: string, timezone: string, from: string, n: number): string[] {
  const out: string[] = [];
  let at = new Date(from);
  for (let i = 0; i < n; i++) {
    const next = nextRunAfter(cron, timezone, at);
    if (!next) break;
    out.push(next.toISOString());
    at = next;
  }
  return out;
}

describe('cron expressions', () => {
  it('takes the five classic fields and refuses anything else with a reason', () => {
    expect(cronProblem('*/5 9-17 * * MON-FRI')).toBeUndefined();
    expect(cronProblem('0 0 1,15 jan,jul *')).toBeUndefined();
    expect(cronProblem('* * * * * *')).toBe('must have 5 fields: minute hour day-of-month month day-of-week');
    expect(cronProblem('@daily')).toBe('must have 5 fields: minute hour day-of-month month day-of-week');
    expect(cronProblem('')).toBe('must have 5 fields: minute hour day-of-month month day-of-week');
    expect(cronProblem('61 * * * *')).toBe('Invalid value for minute: 61');
    expect(cronProblem('0 0 31 2 *')).toBe('never matches a time');
    expect(cronProblem('a b c d e')).toEqual(expect.any(String));
  });

  it('reads day-of-month and day-of-week as Vixie cron does: either matches', () => {
    // 2026-06-01 is a Monday: the 1st (day-of-month) and the Mondays (day-of-week) both run.
    expect(runs('0 12 1 * MON', 'UTC', '2026-05-31T00:00:00Z', 3)).toEqual([
      '2026-06-01T12:00:00.000Z',
      '2026-06-08T12:00:00.000Z',
      '2026-06-15T12:00:00.000Z',
    ]);
  });
});

describe('time zones', () => {
  it('knows IANA names (in any case, given back as the runtime spells them) and refuses offsets and unknown names', () => {
    expect(canonicalTimeZone('Europe/Berlin')).toBe('Europe/Berlin');
    expect(canonicalTimeZone('europe/berlin')).toBe('Europe/Berlin');
    expect(canonicalTimeZone('UTC')).toBe('UTC');
    expect(canonicalTimeZone('America/New_York')).toBe('America/New_York');
    expect(canonicalTimeZone('Mars/Olympus_Mons')).toBeUndefined();
    expect(canonicalTimeZone('+01:00')).toBeUndefined();
    expect(canonicalTimeZone('')).toBeUndefined();
  });

  it('reads the expression in the zone: midnight in Berlin is 23:00 or 22:00 UTC by the season', () => {
    expect(runs('0 0 * * *', 'Europe/Berlin', '2026-03-27T12:00:00Z', 3)).toEqual([
      '2026-03-27T23:00:00.000Z',
      '2026-03-28T23:00:00.000Z', // the night of the change (02:00 -> 03:00 on the 29th) is still CET at midnight
      '2026-03-29T22:00:00.000Z',
    ]);
  });
});

describe('daylight-saving changes', () => {
  // Spring forward: Europe/Berlin skips 02:00-02:59 on 2026-03-29, America/New_York on 2026-03-08.
  it('Europe/Berlin, spring forward: 02:30 does not exist that day, the run is at 03:00 CEST, once', () => {
    expect(runs('30 2 * * *', 'Europe/Berlin', '2026-03-28T12:00:00Z', 3)).toEqual([
      '2026-03-29T01:00:00.000Z', // 03:00 CEST
      '2026-03-30T00:30:00.000Z', // 02:30 CEST
      '2026-03-31T00:30:00.000Z',
    ]);
  });

  it('America/New_York, spring forward: 02:30 runs at 03:00 EDT, once', () => {
    expect(runs('30 2 * * *', 'America/New_York', '2026-03-07T12:00:00Z', 3)).toEqual([
      '2026-03-08T07:00:00.000Z', // 03:00 EDT
      '2026-03-09T06:30:00.000Z', // 02:30 EDT
      '2026-03-10T06:30:00.000Z',
    ]);
  });

  // Fall back: Europe/Berlin lives 02:00-02:59 twice on 2026-10-25, America/New_York 01:00-01:59 on 2026-11-01.
  it('Europe/Berlin, fall back: 02:30 happens twice on the clock and runs exactly once (the first, CEST)', () => {
    expect(runs('30 2 * * *', 'Europe/Berlin', '2026-10-24T12:00:00Z', 3)).toEqual([
      '2026-10-25T00:30:00.000Z', // 02:30 CEST; 02:30 CET (01:30 UTC) is not a second run
      '2026-10-26T01:30:00.000Z', // 02:30 CET
      '2026-10-27T01:30:00.000Z',
    ]);
    // Asked from between the two 02:30s, the next run is the next day's.
    expect(nextRunAfter('30 2 * * *', 'Europe/Berlin', new Date('2026-10-25T00:30:00Z'))?.toISOString()).toBe('2026-10-26T01:30:00.000Z');
  });

  it('America/New_York, fall back: 01:30 runs exactly once (the first, EDT)', () => {
    expect(runs('30 1 * * *', 'America/New_York', '2026-10-31T12:00:00Z', 2)).toEqual([
      '2026-11-01T05:30:00.000Z', // 01:30 EDT; 01:30 EST (06:30 UTC) is not a second run
      '2026-11-02T06:30:00.000Z', // 01:30 EST
    ]);
  });

  it('an interval keeps counting in real time across the fall back: every 30 minutes, the repeated hour too', () => {
    expect(runs('*/30 * * * *', 'Europe/Berlin', '2026-10-25T00:00:00Z', 4)).toEqual([
      '2026-10-25T00:30:00.000Z', // 02:30 CEST
      '2026-10-25T01:00:00.000Z', // 02:00 CET
      '2026-10-25T01:30:00.000Z', // 02:30 CET
      '2026-10-25T02:00:00.000Z', // 03:00 CET
    ]);
  });

  it('an hourly schedule has no run in the skipped hour and one in each hour of the repeated one', () => {
    expect(runs('0 * * * *', 'America/New_York', '2026-03-08T05:30:00Z', 3)).toEqual([
      '2026-03-08T06:00:00.000Z', // 01:00 EST
      '2026-03-08T07:00:00.000Z', // 03:00 EDT (02:00 does not exist)
      '2026-03-08T08:00:00.000Z',
    ]);
  });
});
