import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';

export interface Sent {
  status: number;
  id?: string;
  taskStatus?: string;
  at: number;
}

/** Sends one create and records its answer; never throws. */
async function sendCreate(baseUrl: string, body: object, sent: Sent[]): Promise<void> {
  const at = Date.now();
  try {
    const res = await fetch(`${baseUrl}/api/v1/tasks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(20_000),
    });
    const json = (await res.json().catch(() => ({}))) as { id?: string; status?: string | number };
    sent.push({ status: res.status, id: res.status === 201 ? json.id : undefined, taskStatus: String(json.status), at });
  } catch {
    sent.push({ status: 0, at });
  }
}

/** Creates tasks from `workers` loops until `stop()` (or `maxPerWorker`), recording every answer; never throws. */
export function startLoad(baseUrl: string, body: object, workers = 4, maxPerWorker = 200) {
  const sent: Sent[] = [];
  let running = true;
  const loop = async () => {
    for (let i = 0; running && i < maxPerWorker; i++) {
      await sendCreate(baseUrl, body, sent);
      await sleep(20);
    }
  };
  const done = Promise.all(Array.from({ length: workers }, loop));
  return {
    sent,
    async stop() {
      running = false;
      await done;
    },
  };
}

/**
 * Creates tasks at a steady `perSecond`, whether or not earlier answers have come (an open loop, as independent
 * clients send), until `stop()` or `max` requests; records every answer; never throws.
 */
export function startRateLoad(baseUrl: string, body: object, perSecond: number, max = 2_000) {
  const sent: Sent[] = [];
  const inFlight = new Set<Promise<void>>();
  let count = 0;
  const timer = setInterval(() => {
    if (count++ >= max) return;
    const p = sendCreate(baseUrl, body, sent).finally(() => inFlight.delete(p));
    inFlight.add(p);
  }, 1_000 / perSecond);
  return {
    sent,
    async stop() {
      clearInterval(timer);
      await Promise.all([...inFlight]);
    },
  };
}

export interface Audit {
  accepted: number;
  terminal: number;
  completed: number;
  failed: number;
  cancelled: number;
  stuck: Array<{ id: string; status: string }>;
  /** Tasks that reached COMPLETED more than once. */
  duplicates: string[];
  /** Runs started (IN_PROGRESS events) over all tasks: more than the tasks when lost workers' tasks ran again. */
  runs: number;
  /** Tasks claimed more than once (a run started again after an earlier one). */
  ranTwice: string[];
  /** Tasks in NEW with no outbox row: nothing would ever queue them. */
  stranded: string[];
  /** For tasks claimed again, the longest time from `since` to the second claim. */
  longestRestartMs: number;
  /** The errors of the failed tasks, with how many tasks failed with each. */
  errors: Record<string, number>;
  missing: number;
  /** Longest time from `since` to a task's finish. */
  longestWaitMs: number;
}

/** How many times each value occurs. */
function countBy(values: string[]): Record<string, number> {
  const n: Record<string, number> = {};
  for (const v of values) n[v] = (n[v] ?? 0) + 1;
  return n;
}

/** Looks up the accepted tasks in the database: how many ended, how many ran or completed twice. */
export async function audit(databaseUrl: string, ids: string[], since: number): Promise<Audit> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const tasks = await client.query<{ id: string; status: string; finished_at: Date | null; error: string | null }>(
      'SELECT id, status, finished_at, error FROM tasks WHERE id = ANY($1::uuid[])',
      [ids],
    );
    const events = await client.query<{ task_id: string; completed: string; runs: string; claims: string; second_claim: Date | null }>(
      `SELECT task_id,
              count(*) FILTER (WHERE to_status = 'COMPLETED') AS completed,
              count(*) FILTER (WHERE to_status = 'IN_PROGRESS') AS runs,
              count(*) FILTER (WHERE reason = 'started') AS claims,
              (array_agg(at ORDER BY id) FILTER (WHERE reason = 'started'))[2] AS second_claim
       FROM task_events WHERE task_id = ANY($1::uuid[]) GROUP BY task_id`,
      [ids],
    );
    const stranded = await client.query<{ id: string }>(
      `SELECT t.id FROM tasks t WHERE t.id = ANY($1::uuid[]) AND t.status = 'NEW'
         AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.body->>'task_id' = t.id::text)`,
      [ids],
    );
    const by = (s: string) => tasks.rows.filter((t) => t.status === s).length;
    const terminal = tasks.rows.filter((t) => ['COMPLETED', 'FAILED', 'CANCELLED'].includes(t.status));
    return {
      accepted: ids.length,
      terminal: terminal.length,
      completed: by('COMPLETED'),
      failed: by('FAILED'),
      cancelled: by('CANCELLED'),
      stuck: tasks.rows.filter((t) => !terminal.includes(t)).map((t) => ({ id: t.id, status: t.status })),
      duplicates: events.rows.filter((e) => Number(e.completed) > 1).map((e) => e.task_id),
      runs: events.rows.reduce((n, e) => n + Number(e.runs), 0),
      ranTwice: events.rows.filter((e) => Number(e.claims) > 1).map((e) => e.task_id),
      stranded: stranded.rows.map((r) => r.id),
      errors: countBy(tasks.rows.filter((t) => t.status === 'FAILED').map((t) => String(t.error))),
      longestRestartMs: Math.max(0, ...events.rows.map((e) => (e.second_claim ? new Date(e.second_claim).getTime() - since : 0))),
      missing: ids.length - tasks.rows.length,
      longestWaitMs: Math.max(0, ...terminal.map((t) => (t.finished_at ? t.finished_at.getTime() - since : 0))),
    };
  } finally {
    await client.end();
  }
}

/** Audits until every accepted task is terminal or `timeoutMs` passes; returns the last audit. */
export async function auditUntilSettled(databaseUrl: string, ids: string[], since: number, timeoutMs: number): Promise<Audit> {
  const deadline = Date.now() + timeoutMs;
  let last = await audit(databaseUrl, ids, since);
  while (last.terminal + last.missing < last.accepted && Date.now() < deadline) {
    await sleep(250);
    last = await audit(databaseUrl, ids, since);
  }
  return last;
}

/** Prints what a fault test sent and found, one line, so that a run's log carries the figures. */
export function report(name: string, sent: Sent[], a: Audit): void {
  const codes: Record<string, number> = {};
  for (const s of sent) codes[s.status] = (codes[s.status] ?? 0) + 1;
  console.log(
    `[fault] ${name}: sent ${sent.length} (answers ${JSON.stringify(codes)}), accepted ${a.accepted}, terminal ${a.terminal} ` +
      `(completed ${a.completed}, failed ${a.failed}, cancelled ${a.cancelled}), stuck ${a.stuck.length}, missing ${a.missing}, ` +
      `runs ${a.runs}, ran twice ${a.ranTwice.length}, stranded ${a.stranded.length}, duplicates ${a.duplicates.length}, ` +
      `longest restart after the fault ${a.longestRestartMs} ms, longest wait after the fault ${a.longestWaitMs} ms` +
      (a.failed ? `, errors ${JSON.stringify(a.errors)}` : ''),
  );
}
