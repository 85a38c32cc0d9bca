import { Cron } from 'croner';

// Cron expressions and time zones, by croner (maintained, no dependencies, DST-aware; its behaviour across the
// changes is pinned by test/unit/cron.test.ts): a wall-clock time that a spring-forward skips runs at the first
// minute after the gap (02:30 -> 03:00 in Europe/Berlin), one that a fall-back repeats runs once (the first of
// the two), and an interval (`*/30 * * * *`) keeps counting in real time.

/** Why a cron expression cannot be used, or undefined when it can: five fields, and a time it matches. */
export function cronProblem(cron: string): string | undefined {
  const fields = cron.trim().split(/\s+/);
  // croner also takes seconds and years (6 and 7 fields) and nicknames (@daily): the contract is the classic five.
  if (fields.length !== 5) return 'must have 5 fields: minute hour day-of-month month day-of-week';
  try {
    if (!new Cron(cron, { paused: true }).nextRun()) return 'never matches a time';
  } catch (err) {
    return (err as Error).message.replace(/^CronPattern: /, '');
  }
  return undefined;
}

/** An IANA time zone name as this runtime spells it (`europe/berlin` -> `Europe/Berlin`), or undefined if unknown. */
export function canonicalTimeZone(name: string): string | undefined {
  // Intl also takes offsets such as `+01:00` on newer runtimes: those are not names.
  if (!/^[A-Za-z]/.test(name)) return undefined;
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: name }).resolvedOptions().timeZone;
  } catch {
    return undefined;
  }
}

/** The first time after `after` that `cron` matches in `timezone` (null if none: only for an expression that never does). */
export function nextRunAfter(cron: string, timezone: string, after: Date): Date | null {
  return new Cron(cron, { paused: true, timezone }).nextRun(after);
}
