// What `npm start` prints: its own lines, one line per request (none for the dashboard's polling unless
// LOG_REQUESTS=all), the service's log lines made short, and errors. serverless-offline's banner (a line per
// function and a box of routes), its line per invocation and its blank lines are left out.

/** Which request lines the console shows: every one, all but the dashboard's own (the default), or none. */
export type RequestLines = 'all' | 'api' | 'none';

/** The keys of a log line that say nothing to a person at a local console (the same for every line). */
const BOILERPLATE = new Set([
  'level',
  'message',
  'timestamp',
  'service',
  'cold_start',
  'function_arn',
  'function_memory_size',
  'function_name',
  'function_request_id',
  'sampling_rate',
  'xray_trace_id',
  'tenant_id',
  'stage',
  'route',
]);

/** Keys of a request line that its short form already says. */
const REQUEST_KEYS = new Set(['method', 'path', 'status', 'ms', 'dashboard']);

const value = (v: unknown): string => (typeof v === 'string' ? (/\s/.test(v) ? JSON.stringify(v) : v) : JSON.stringify(v));

/** An `error` of a log line: `Name: message`, then its stack (without the first line, which repeats them). */
function errorText(error: unknown): string {
  if (!error || typeof error !== 'object') return value(error);
  const e = error as { name?: string; message?: string; stack?: string | string[] };
  const stack = Array.isArray(e.stack) ? e.stack : (e.stack?.split('\n') ?? []);
  const frames = stack.filter((l) => /^\s*at /.test(l)).slice(0, 8);
  return [`${e.name ?? 'Error'}: ${e.message ?? ''}`, ...frames.map((f) => `    ${f.trim()}`)].join('\n');
}

/**
 * A log line of the service (Powertools JSON) as one short line, or undefined to leave it out; any other line is
 * returned as it is.
 */
export function consoleLine(line: string, requests: RequestLines): string | undefined {
  if (!line.startsWith('{')) return line;
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line);
  } catch {
    return line;
  }
  if (typeof entry.level !== 'string' || typeof entry.message !== 'string') return line;
  const isRequest = entry.message === 'request' && typeof entry.path === 'string';
  if (isRequest && (requests === 'none' || (requests === 'api' && entry.dashboard === true && Number(entry.status) < 400))) {
    return undefined;
  }
  const time = typeof entry.timestamp === 'string' ? entry.timestamp.slice(11, 23) : '';
  const head = isRequest ? `${entry.method} ${entry.path} -> ${entry.status} (${entry.ms} ms)` : entry.message;
  const rest = Object.entries(entry)
    .filter(([k, v]) => !BOILERPLATE.has(k) && k !== 'error' && v !== undefined && !(isRequest && REQUEST_KEYS.has(k)))
    .map(([k, v]) => `${k}=${value(v)}`);
  const error = entry.error === undefined ? '' : `\n  ${errorText(entry.error).replace(/\n/g, '\n  ')}`;
  return `${time} ${entry.level.padEnd(5)} ${[head, ...rest].join(' ')}${error}`;
}

/** serverless-offline's line per request (`GET /health (λ: health)`) and per invocation (`(λ: name) RequestId...`). */
const OFFLINE_NOISE = [/^(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS|ANY) \S+ \(λ: \w+\)$/, /^\(λ: \w+\) RequestId/];

/** Lines of the banner that still matter: warnings and errors. */
const WORTH_SHOWING = /error|warn|deprecat/i;

/**
 * A filter of serverless-offline's output, line by line: its banner until `Server ready` (warnings and errors
 * excepted), its request and invocation lines and blank lines go; the service's log lines are made short.
 */
export function offlineOutputFilter(requests: RequestLines): (line: string) => string | undefined {
  let ready = false;
  return (line) => {
    const text = line.replace(/\s+$/, '');
    if (!ready) {
      if (text.startsWith('Server ready')) ready = true;
      if (!text.startsWith('{')) return WORTH_SHOWING.test(text) ? text : undefined;
    }
    if (text.trim() === '' || OFFLINE_NOISE.some((re) => re.test(text))) return undefined;
    return consoleLine(text, requests);
  };
}

/** Applies `filter` to whole lines of a stream of chunks, writing what it keeps to `write`. */
export function lineFilter(filter: (line: string) => string | undefined, write: (text: string) => void) {
  let rest = '';
  return (chunk: Buffer | string) => {
    const lines = (rest + chunk.toString()).split('\n');
    rest = lines.pop() ?? '';
    for (const line of lines) {
      const kept = filter(line);
      if (kept !== undefined) write(`${kept}\n`);
    }
  };
}
