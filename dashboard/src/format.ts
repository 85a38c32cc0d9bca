/** "3 s", "4 min 12 s", "2 h 5 min". */
export function duration(ms: number): string {
  if (ms < 1_000) return `${Math.max(0, Math.round(ms))} ms`;
  const s = Math.round(ms / 1_000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return s % 60 ? `${m} min ${s % 60} s` : `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 48) return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
  return `${Math.floor(h / 24)} d`;
}

/** "just now", "12 s ago", "5 min ago", then the date. */
export function ago(iso: string, now = Date.now()): string {
  const ms = now - Date.parse(iso);
  if (ms < 2_000) return 'just now';
  if (ms < 3_600_000 * 24) return `${duration(ms).replace(/ \d+ s$/, '')} ago`;
  return dateTime(iso);
}

const dtf = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
const tf = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });

/** A local date and time. */
export const dateTime = (iso: string): string => dtf.format(new Date(iso));
/** A local time of day, with seconds. */
export const timeOfDay = (iso: string): string => tf.format(new Date(iso));

/** Words for a status: IN_PROGRESS -> In progress. */
export const statusLabel = (s: string): string => s.charAt(0) + s.slice(1).toLowerCase().replace('_', ' ');

/**
 * A short form of an id, enough to tell tasks apart in a list: its last 8 digits, which are random. A task id begins
 * with its creation time (UUID version 7), the same for every task of a minute.
 */
export const shortId = (id: string): string => id.slice(-8);

export const plural = (n: number, one: string, many = `${one}s`): string => `${n.toLocaleString()} ${n === 1 ? one : many}`;

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i;
/** The task id in a text (an id, a URL with one, a log line), if there is one. */
export const findUuid = (text: string): string | undefined => UUID.exec(text)?.[0]?.toLowerCase();

/** "starts in 1 min 20 s" until `iso`, "starting…" once it has come (the service releases the task within a second). */
export function startsIn(iso: string, now = Date.now()): string {
  const ms = Date.parse(iso) - now;
  return ms > 500 ? `starts in ${duration(ms)}` : 'starting…';
}
