import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { createDb } from '#lib/db/client';
import { foldTaskCounts } from '#lib/db/counts';
import { MIGRATIONS_FOLDER, migrateDatabase } from '#lib/db/migrate';
import { createDatabase, dropDatabase } from '#local/pg-admin';

// The database of the scale step: 1,000,000 tasks and their 4,000,000 events, made in SQL (a few minutes) and kept
// between runs (it is reused while it holds exactly the tasks made and the current migrations).

export const SCALE_DATABASE = 'tasks_bench_scale';
export const SCALE_TASKS = 1_000_000;
/** The title of the tasks the benchmark creates through the API: deleted after the step, so the count stays. */
export const CREATED_TITLE = 'bench';

const TITLES = [
  'Resize images',
  'Send invoice',
  'Build report',
  'Sync catalog',
  'Export orders',
  'Import users',
  'Render video',
  'Backup database',
];

/**
 * Task i (1 = newest, 2.5 s apart, so a month back): a title `<one of TITLES> #i`, every third one a description
 * `batch <i % 1000> of customer <md5(i)>`, every tenth a checksum, the statuses of a system that has run a while
 * (85% COMPLETED, 10% FAILED, 2% CANCELLED, 1% IN_PROGRESS, 2% PENDING); four events each.
 */
const GENERATE_TASKS = (n: number) => `
  INSERT INTO tasks (id, type, title, description, priority, payload, status, attempts, created_at, updated_at, started_at, finished_at)
  SELECT gen_random_uuid(), CASE WHEN i % 10 = 0 THEN 'checksum' ELSE 'emulate' END,
    (ARRAY[${TITLES.map((t) => `'${t}'`).join(', ')}])[1 + i % ${TITLES.length}] || ' #' || i,
    CASE WHEN i % 3 = 0 THEN 'batch ' || (i % 1000) || ' of customer ' || md5(i::text) ELSE NULL END,
    (ARRAY['LOW', 'MEDIUM', 'HIGH']::task_priority[])[1 + i % 3], jsonb_build_object('duration_ms', i % 5000),
    (CASE WHEN i % 100 < 85 THEN 'COMPLETED' WHEN i % 100 < 95 THEN 'FAILED' WHEN i % 100 < 97 THEN 'CANCELLED'
      WHEN i % 100 < 98 THEN 'IN_PROGRESS' ELSE 'PENDING' END)::task_status,
    1, now() - (i || ' seconds')::interval * 2.5, now() - (i || ' seconds')::interval * 2.5,
    now() - (i || ' seconds')::interval * 2.5, now() - (i || ' seconds')::interval * 2.5
  FROM generate_series(1, ${n}) i`;
const GENERATE_EVENTS = `
  INSERT INTO task_events (task_id, from_status, to_status, at, reason)
  SELECT t.id, v.f, v.s, t.created_at, 'seed' FROM tasks t
  CROSS JOIN LATERAL (VALUES (NULL::task_status, 'NEW'::task_status), ('NEW', 'PENDING'), ('PENDING', 'IN_PROGRESS'),
    ('IN_PROGRESS', t.status)) v(f, s)`;

/** Search terms with few and with many matches among the generated tasks. */
export const SCALE_SEARCH = {
  /** One task's description (task 777,777: a multiple of 3 has one). */
  rare: createHash('md5').update('777777').digest('hex').slice(0, 12),
  /** One title in eight: 125,000 tasks. */
  frequent: 'invoice',
};

function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

const journal = (): Array<{ when: number; tag: string }> =>
  JSON.parse(readFileSync(path.join(MIGRATIONS_FOLDER, 'meta/_journal.json'), 'utf8')).entries;

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** Folds the kept counts and refreshes the planner's statistics and the visibility map. */
async function tidy(url: string): Promise<void> {
  const handle = createDb(url, 1, 30_000);
  try {
    await foldTaskCounts(handle.db);
  } finally {
    await handle.pool.end();
  }
  await withClient(url, (c) => c.query('VACUUM ANALYZE tasks, task_events, task_count_deltas, outbox'));
}

/** Deletes the tasks the benchmark created through the API (their events go with them) and the outbox rows left. */
export async function deleteCreatedTasks(url: string): Promise<number> {
  return withClient(url, async (c) => {
    const { rowCount } = await c.query('DELETE FROM tasks WHERE title = $1', [CREATED_TITLE]);
    await c.query('DELETE FROM outbox');
    return rowCount ?? 0;
  });
}

/**
 * Why the existing scale database cannot be reused (null when it can): missing, migrations other than the current
 * ones (pending migrations after the recorded ones are applied here), or a number of tasks other than SCALE_TASKS.
 */
async function unusable(serverUrl: string, url: string, log: (line: string) => void): Promise<string | null> {
  const exists = await withClient(
    serverUrl,
    async (c) => (await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [SCALE_DATABASE])).rowCount,
  );
  if (!exists) return 'missing';
  const applied = await withClient(url, async (c) => {
    if (!(await c.query("SELECT to_regclass('drizzle.__drizzle_migrations') AS t")).rows[0]?.t) return [];
    return (await c.query<{ created_at: string }>('SELECT created_at FROM drizzle.__drizzle_migrations ORDER BY id')).rows.map((r) =>
      Number(r.created_at),
    );
  });
  const wanted = journal().map((e) => e.when);
  if (applied.length > wanted.length || applied.some((when, i) => when !== wanted[i])) return 'made with other migrations';
  if (applied.length < wanted.length) {
    log(`  applying ${wanted.length - applied.length} new migration(s) to ${SCALE_DATABASE}`);
    await migrateDatabase(url);
  }
  const removed = await deleteCreatedTasks(url);
  if (removed) log(`  deleted ${removed} tasks left by an earlier run`);
  const n = await withClient(url, async (c) => Number((await c.query('SELECT count(*) AS n FROM tasks')).rows[0]?.n));
  return n === SCALE_TASKS ? null : `${n} tasks instead of ${SCALE_TASKS}`;
}

/** The scale database, reused or made (migrated first, so that the count triggers see the inserts); answers its URL. */
export async function ensureScaleDatabase(serverUrl: string, log: (line: string) => void): Promise<{ url: string; made_s: number | null }> {
  const url = withDatabase(serverUrl, SCALE_DATABASE);
  const why = await unusable(serverUrl, url, log);
  if (!why) {
    log(`  reusing ${SCALE_DATABASE} (${SCALE_TASKS} tasks, current migrations)`);
    await tidy(url);
    return { url, made_s: null };
  }
  log(`  making ${SCALE_DATABASE} (${why}): ${SCALE_TASKS} tasks and their events, a few minutes`);
  const started = Date.now();
  await dropDatabase(serverUrl, SCALE_DATABASE);
  try {
    await createDatabase(serverUrl, SCALE_DATABASE);
    await migrateDatabase(url);
    await withClient(url, async (c) => {
      await c.query(GENERATE_TASKS(SCALE_TASKS));
      log(`  tasks inserted (${Math.round((Date.now() - started) / 1000)} s)`);
      await c.query(GENERATE_EVENTS);
      log(`  events inserted (${Math.round((Date.now() - started) / 1000)} s)`);
    });
    await tidy(url);
  } catch (err) {
    // Half made: not to be taken for a made one next time.
    await dropDatabase(serverUrl, SCALE_DATABASE).catch(() => {});
    throw err;
  }
  const made_s = Math.round((Date.now() - started) / 1000);
  log(`  made ${SCALE_DATABASE} in ${made_s} s`);
  return { url, made_s };
}
