import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';

export interface Sent {
  status: number;
  id?: string;
  taskStatus?: string;
  at: number;
}

/** Creates tasks from `workers` loops until `stop()` (or `maxPerWorker`), recording every answer; never throws. */
export function startLoad(baseUrl: string, body: object, workers = 4, maxPerWorker = 200) {
  const sent: Sent[] = [];
  let running = true;
  const loop = async () => {
    for (let i = 0; running && i < maxPerWorker; i++) {
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
  missing: number;
  /** Longest time from `since` to a task's finish. */
  longestWaitMs: number;
}

/** Looks up the accepted tasks in the database: how many ended, how many ran or completed twice. */
export async function audit(databaseUrl: string, ids: string[], since: number): Promise<Audit> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const tasks = await client.query<{ id: string; status: string; finished_at: Date | null }>(
      'SELECT id, status, finished_at FROM tasks WHERE id = ANY($1::uuid[])',
      [ids],
    );
    const events = await client.query<{ task_id: string; completed: string; runs: string }>(
      `SELECT task_id,
              count(*) FILTER (WHERE to_status = 'COMPLETED') AS completed,
              count(*) FILTER (WHERE to_status = 'IN_PROGRESS') AS runs
       FROM task_events WHERE task_id = ANY($1::uuid[]) GROUP BY task_id`,
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
      `runs ${a.runs}, duplicates ${a.duplicates.length}, longest wait after the fault ${a.longestWaitMs} ms`,
  );
}
