import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { countTasksBy, countTasksByStatusAndType, foldTaskCounts } from '#lib/db/counts';
import { createTask } from '#lib/tasks/commands';
import { runMaintenance } from '#lib/tasks/dispatcher';
import { TOTAL_COUNT_CAP } from '#lib/tasks/schemas';
import { handler as list } from '../../functions/tasks-list';
import { useTestApp } from '../helpers/app';
import { httpEvent, invoke } from '../helpers/lambda';

const app = useTestApp();

const query = (q: Record<string, string>) => invoke(list, httpEvent({ method: 'GET', path: '/api/v1/tasks', query: q }));

/** The counts as counting the table gives them, by status and type. */
async function counted(): Promise<Record<string, number>> {
  const res = await app.db.db.execute<{ status: string; type: string; n: number }>(
    sql`SELECT status, type, count(*)::int AS n FROM tasks GROUP BY 1, 2`,
  );
  return Object.fromEntries(res.rows.map((r) => [`${r.status}/${r.type}`, r.n]));
}
async function kept(): Promise<Record<string, number>> {
  return Object.fromEntries((await countTasksByStatusAndType(app.db.db)).map((r) => [`${r.status}/${r.type}`, r.n]));
}

/** Inserts `n` tasks in one statement (as a bulk load would), `title` numbered, created a millisecond apart. */
async function seed(n: number, title: string, o: { status?: string; sameTime?: boolean } = {}) {
  await app.db.db.execute(sql`
    INSERT INTO tasks (type, title, status, created_at)
    SELECT 'emulate', ${title} || ' ' || i, ${o.status ?? 'COMPLETED'}::task_status,
      ${o.sameTime ? sql`'2026-01-01T00:00:00.000Z'::timestamptz` : sql`now() - make_interval(secs => i / 1000.0)`}
    FROM generate_series(1, ${n}::int) i`);
}

describe('task counts kept by the database', () => {
  it('match counting the table through creates, runs, cancels, deletes and folds, with writers and folds at once', async () => {
    await Promise.all(
      Array.from({ length: 8 }, async (_, w) => {
        for (let i = 0; i < 15; i++) {
          await createTask({ type: w % 2 ? 'checksum' : 'emulate', title: `w${w}`, priority: 'LOW', payload: w % 2 ? { text: 'x' } : {} });
          if (i % 5 === 0) await foldTaskCounts(app.db.db);
        }
      }),
    );
    await app.db.db.execute(sql`UPDATE tasks SET status = 'IN_PROGRESS' WHERE title IN ('w0', 'w1')`);
    await app.db.db.execute(sql`UPDATE tasks SET status = 'CANCELLED' WHERE title = 'w2'`);
    await app.db.db.execute(sql`UPDATE tasks SET priority = 'HIGH' WHERE title = 'w3'`);
    await app.db.db.execute(sql`DELETE FROM tasks WHERE title = 'w4'`);
    expect(await kept()).toEqual(await counted());
    await runMaintenance();
    expect(await kept()).toEqual(await counted());
    // Folded: one row per group.
    const rows = await app.db.db.execute<{ n: number; groups: number }>(
      sql`SELECT count(*)::int AS n, count(DISTINCT (status, type, priority))::int AS groups FROM task_count_deltas`,
    );
    expect(rows.rows[0]?.n).toBe(rows.rows[0]?.groups);
    expect(await countTasksBy(app.db.db, { priority: 'HIGH' })).toBe(15);
    expect(await countTasksBy(app.db.db, { status: ['IN_PROGRESS', 'CANCELLED'], type: 'emulate' })).toBe(30);
    await app.db.db.execute(sql`TRUNCATE tasks CASCADE`);
    expect(await kept()).toEqual({});
  });
});

describe('GET /api/v1/tasks at scale', () => {
  it('gives an exact total from the kept counts, and a lower bound for a search with more matches than it counts', async () => {
    await seed(TOTAL_COUNT_CAP + 5, 'bulk item');
    await seed(3, 'rare needle');
    const all = await query({ limit: '5' });
    expect(all.body).toMatchObject({ total: TOTAL_COUNT_CAP + 8, total_exact: true });
    const failed = await query({ status: 'FAILED,COMPLETED', type: 'emulate', limit: '5' });
    expect(failed.body).toMatchObject({ total: TOTAL_COUNT_CAP + 8, total_exact: true });
    const rare = await query({ search: 'NEEDLE' });
    expect(rare.body).toMatchObject({ total: 3, total_exact: true });
    expect(rare.body.items).toHaveLength(3);
    const many = await query({ search: 'bulk item', limit: '2' });
    expect(many.body).toMatchObject({ total: TOTAL_COUNT_CAP, total_exact: false });
    await app.db.db.execute(sql`TRUNCATE tasks CASCADE`);
  });

  it('pages with a cursor through tasks created at the same moment, as offsets do, without a repeat or a gap', async () => {
    await seed(30, 'same time', { sameTime: true });
    await seed(25, 'spread');
    const byOffset: string[] = [];
    for (let offset = 0; offset < 55; offset += 20) {
      byOffset.push(...(await query({ limit: '20', offset: String(offset) })).body.items.map((t: { id: string }) => t.id));
    }
    const byCursor: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res: Awaited<ReturnType<typeof query>> = await query({ limit: '20', ...(cursor ? { cursor } : {}) });
      expect(res.statusCode).toBe(200);
      byCursor.push(...res.body.items.map((t: { id: string }) => t.id));
      cursor = res.body.next_cursor;
      pages++;
    } while (cursor && pages < 10);
    expect(byCursor).toHaveLength(55);
    expect(new Set(byCursor).size).toBe(55);
    expect(byCursor).toEqual(byOffset);
    // With a filter too.
    const first = await query({ search: 'same time', limit: '25' });
    const rest = await query({ search: 'same time', limit: '25', cursor: first.body.next_cursor });
    expect(rest.body.items).toHaveLength(5);
    expect(rest.body.next_cursor).toBeNull();
    await app.db.db.execute(sql`TRUNCATE tasks CASCADE`);
  });

  it('refuses a cursor it did not make, and a cursor with an offset', async () => {
    for (const cursor of ['nope', Buffer.from('2026-01-01|x').toString('base64url'), 'x'.repeat(201)]) {
      const res = await query({ cursor });
      expect(res.statusCode, cursor).toBe(422);
      expect(res.body.errors.map((e: { path: string }) => e.path)).toContain('cursor');
    }
    const cursor = Buffer.from('2026-01-01T00:00:00.000Z|9b2f3c1e-8c53-4a43-9f51-0d0f7bb3f0a1').toString('base64url');
    expect((await query({ cursor })).statusCode).toBe(200);
    const both = await query({ cursor, offset: '20' });
    expect(both.statusCode).toBe(422);
    expect(both.body.errors.map((e: { path: string }) => e.path)).toContain('offset');
  });

  it('reads the newest page from the index, and searches through the trigram indexes', async () => {
    await seed(20_000, 'plan check');
    await app.db.db.execute(sql`ANALYZE tasks`);
    const plan = async (q: ReturnType<typeof sql>) =>
      (await app.db.db.execute<{ 'QUERY PLAN': string }>(sql`EXPLAIN ${q}`)).rows.map((r) => r['QUERY PLAN']).join('\n');
    const newest = await plan(sql`SELECT id FROM tasks ORDER BY created_at DESC NULLS LAST, id DESC NULLS LAST LIMIT 20`);
    expect(newest).toContain('tasks_created_at_idx');
    expect(newest).not.toContain('Sort');
    // Whether the search can use the trigram indexes at all (on a table this small the planner may rather scan it).
    const search = await app.db.db.transaction(async (tx) => {
      await tx.execute(sql`SET LOCAL enable_seqscan = off`);
      const rows = await tx.execute<{ 'QUERY PLAN': string }>(
        sql`EXPLAIN SELECT id FROM tasks WHERE title ILIKE '%check 1234%' OR description ILIKE '%check 1234%'`,
      );
      return rows.rows.map((r) => r['QUERY PLAN']).join('\n');
    });
    expect(search).toContain('tasks_title_trgm_idx');
    expect(search).toContain('tasks_description_trgm_idx');
    // The list's own statement takes the same path: a page of the newest tasks in well under the time of a full sort.
    const started = performance.now();
    const res = await query({ limit: '20' });
    expect(res.statusCode).toBe(200);
    expect(performance.now() - started).toBeLessThan(1_000);
    await app.db.db.execute(sql`TRUNCATE tasks CASCADE`);
  });
});
