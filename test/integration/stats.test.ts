import { sql } from 'drizzle-orm';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { queue } from '#lib/queue/client';
import { QUEUE_DEPTH_TIMEOUT_MS } from '#lib/tasks/stats';
import { handler as stats } from '../../functions/stats';
import { handler as create } from '../../functions/tasks-create';
import { useTestApp } from '../helpers/app';
import { httpEvent, invoke } from '../helpers/lambda';

const app = useTestApp();

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const zeros = { SCHEDULED: 0, NEW: 0, PENDING: 0, IN_PROGRESS: 0, COMPLETED: 0, FAILED: 0, CANCELLED: 0 };

const getStats = () => invoke(stats, httpEvent({ method: 'GET', path: '/api/v1/stats' }));

/** The start of the minute `ago` minutes before the database's now. */
async function minuteAgo(ago: number): Promise<string> {
  const r = await app.db.db.execute<{ m: Date }>(sql`SELECT date_trunc('minute', now()) - make_interval(mins => ${ago}::int) AS m`);
  return new Date((r.rows[0] as { m: Date }).m).toISOString();
}

/** A task created at `createdAt` whose history ends in `status` at `finishedAt`. */
async function insertTask(o: { type?: string; status: string; createdAt: string; finishedAt?: string; failedBefore?: string }) {
  const r = await app.db.db.execute<{ id: string }>(sql`
    INSERT INTO tasks (type, title, status, created_at, updated_at, finished_at)
    VALUES (${o.type ?? 'emulate'}, 'seeded', ${o.status}::task_status, ${o.createdAt}::timestamptz, ${o.createdAt}::timestamptz,
            ${o.finishedAt ?? null}::timestamptz)
    RETURNING id`);
  const id = (r.rows[0] as { id: string }).id;
  const events: Array<[string | null, string, string]> = [[null, 'NEW', o.createdAt]];
  if (o.failedBefore) events.push(['IN_PROGRESS', 'FAILED', o.failedBefore], ['FAILED', 'PENDING', o.failedBefore]);
  if (o.finishedAt) events.push(['IN_PROGRESS', o.status, o.finishedAt]);
  for (const [from, to, at] of events) {
    await app.db.db.execute(
      sql`INSERT INTO task_events (task_id, from_status, to_status, at) VALUES (${id}, ${from}::task_status, ${to}::task_status, ${at}::timestamptz)`,
    );
  }
  return id;
}

describe('GET /api/v1/stats on PostgreSQL', () => {
  afterEach(() => vi.restoreAllMocks());

  it('answers zeros for an empty service: every status, every registered type, 60 minutes, an empty queue', async () => {
    const res = await getStats();
    expect(res).toEqual({
      statusCode: 200,
      headers: expect.objectContaining({ 'content-type': 'application/json', 'cache-control': 'no-store' }),
      body: {
        generated_at: expect.stringMatching(ISO),
        total: 0,
        by_status: zeros,
        by_type: [
          { type: 'checksum', total: 0, by_status: zeros },
          { type: 'emulate', total: 0, by_status: zeros },
        ],
        throughput: expect.any(Array),
        queue: { driver: 'postgres', depth: 0, dead_letters: 0, dead_letters_by_queue: { tasks: 0, task_intake: 0 } },
      },
    });
    const minutes = res.body.throughput as Array<{ minute: string; created: number; completed: number; failed: number }>;
    expect(minutes).toHaveLength(60);
    for (const [i, m] of minutes.entries()) {
      expect(m).toEqual({ minute: expect.stringMatching(/:00\.000Z$/), created: 0, completed: 0, failed: 0 });
      if (i > 0) expect(Date.parse(m.minute) - Date.parse((minutes[i - 1] as { minute: string }).minute)).toBe(60_000);
    }
    expect((minutes.at(-1) as { minute: string }).minute).toBe(await minuteAgo(0));
  });

  it('counts by status and type, per minute over the last hour, and the queue depth', async () => {
    // The tasks made below must share a minute: near the end of one, wait for the next.
    const left = 60_000 - (Date.now() % 60_000);
    if (left < 5_000) await new Promise((r) => setTimeout(r, left + 100));
    const [m0, m5, m30, m58, m61] = (await Promise.all([0, 5, 30, 58, 61].map(minuteAgo))) as [string, string, string, string, string];
    const at = (minute: string, seconds: number) => new Date(Date.parse(minute) + seconds * 1_000).toISOString();

    // Three tasks through the API: PENDING, with a message each in the queue.
    for (const title of ['a', 'b', 'c']) {
      const res = await invoke(create, httpEvent({ method: 'POST', path: '/api/v1/tasks', body: { title, payload: { duration_ms: 0 } } }));
      expect(res.statusCode).toBe(201);
    }
    await insertTask({ status: 'COMPLETED', createdAt: at(m5, 1), finishedAt: at(m5, 20) });
    await insertTask({ status: 'COMPLETED', createdAt: at(m30, 5), finishedAt: at(m5, 40) });
    // Failed once (counted in its minute), retried, then completed.
    await insertTask({ status: 'COMPLETED', createdAt: at(m58, 0), failedBefore: at(m58, 30), finishedAt: at(m30, 10) });
    await insertTask({ type: 'checksum', status: 'FAILED', createdAt: at(m30, 50), finishedAt: at(m30, 59) });
    await insertTask({ type: 'checksum', status: 'CANCELLED', createdAt: at(m5, 3) });
    // Older than the hour: in the counts, not in the throughput.
    await insertTask({ status: 'FAILED', createdAt: at(m61, 0), finishedAt: at(m61, 10) });
    // A type that is no longer registered still shows.
    await insertTask({ type: 'retired', status: 'NEW', createdAt: at(m0, 0) });
    // Dead letters are counted from their table, whatever the queue driver; a message in a broker's dead-letter queue
    // counts once the dead-letter consumer has recorded it.
    await app.db.db.execute(
      sql`INSERT INTO dead_letters (queue, reason, body) VALUES ('tasks', 'r', '{}'), ('task_intake', 'r', '{{'), ('task_intake', 'r', '{{')`,
    );
    await app.db.db.execute(sql`INSERT INTO queue_messages (queue, body) VALUES ('tasks.dlq', '{}')`);

    const { statusCode, body } = await getStats();
    expect(statusCode).toBe(200);
    const minutes = body.throughput as Array<{ minute: string; created: number; completed: number; failed: number }>;
    const nonZero = minutes.filter((m) => m.created || m.completed || m.failed);
    expect({ ...body, throughput: nonZero }).toEqual({
      generated_at: expect.stringMatching(ISO),
      total: 10,
      by_status: { SCHEDULED: 0, NEW: 1, PENDING: 3, IN_PROGRESS: 0, COMPLETED: 3, FAILED: 2, CANCELLED: 1 },
      by_type: [
        { type: 'checksum', total: 2, by_status: { ...zeros, FAILED: 1, CANCELLED: 1 } },
        { type: 'emulate', total: 7, by_status: { ...zeros, PENDING: 3, COMPLETED: 3, FAILED: 1 } },
        { type: 'retired', total: 1, by_status: { ...zeros, NEW: 1 } },
      ],
      throughput: [
        { minute: m58, created: 1, completed: 0, failed: 1 },
        { minute: m30, created: 2, completed: 1, failed: 1 },
        { minute: m5, created: 2, completed: 2, failed: 0 },
        // The three API tasks and the retired one, unless the minute turned since they were made.
        ...(minutes.at(-1)?.minute === m0 ? [{ minute: m0, created: 4, completed: 0, failed: 0 }] : [expect.anything()]),
      ],
      queue: { driver: 'postgres', depth: 3, dead_letters: 3, dead_letters_by_queue: { tasks: 1, task_intake: 2 } },
    });
  });

  it('answers without the queue depth (null) when the queue does not answer in time', async () => {
    vi.spyOn(queue(), 'depth').mockImplementation(() => new Promise(() => {}));
    const started = Date.now();
    const res = await getStats();
    expect(Date.now() - started).toBeLessThan(QUEUE_DEPTH_TIMEOUT_MS + 1_000);
    expect(res.statusCode).toBe(200);
    expect(res.body.queue).toMatchObject({ driver: 'postgres', depth: null });
  });

  it('answers without the queue depth (null) when the queue fails', async () => {
    vi.spyOn(queue(), 'depth').mockRejectedValue(new Error('connection refused'));
    const res = await getStats();
    expect(res.statusCode).toBe(200);
    expect(res.body.queue).toMatchObject({ driver: 'postgres', depth: null });
  });

  it('asks the queue its depth once for stats asked at the same time', async () => {
    const depth = vi.spyOn(queue(), 'depth');
    const answers = await Promise.all([getStats(), getStats(), getStats()]);
    const alone = (await getStats()).body.queue;
    for (const res of answers) expect(res.body.queue).toEqual(alone);
    // Once answered, the next stats ask again.
    expect(depth.mock.calls.map(([name]) => name).sort()).toEqual(['tasks', 'tasks']);
  });

  it('uses the index on finished runs for the throughput', async () => {
    const plan = await app.db.db.transaction(async (tx) => {
      // On a small table a sequential scan is cheaper; the question is whether the index can serve the query.
      await tx.execute(sql`SET LOCAL enable_seqscan = off`);
      return tx.execute<{ 'QUERY PLAN': string }>(
        sql`EXPLAIN SELECT count(*) FROM task_events WHERE to_status IN ('COMPLETED', 'FAILED') AND at >= now() - interval '1 hour'`,
      );
    });
    expect(plan.rows.map((r) => r['QUERY PLAN']).join('\n')).toContain('task_events_finished_at_idx');
  });
});
