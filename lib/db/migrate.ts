import path from 'node:path';
import { migrate } from 'drizzle-orm/node-postgres/migrator';
import type pg from 'pg';
import { createDb } from '#lib/db/client';

/** Folder of the SQL migrations written by drizzle-kit (from the sources; a bundle passes its own). */
export const MIGRATIONS_FOLDER = path.resolve(__dirname, '../../drizzle');

/** The PostgreSQL advisory lock that migrations take: one key for this service's schema. */
export const MIGRATION_LOCK_KEY = 7_264_310_501;

const LOCK_POLL_MS = 250;

export interface MigrateOptions {
  /** Default: MIGRATIONS_FOLDER. */
  folder?: string;
  /** Longest wait for another migration holding the lock (default 10 minutes). */
  lockWaitMs?: number;
}

/** Takes the migration lock on the pool's one connection, waiting for another holder up to `waitMs`. */
async function takeLock(pool: pg.Pool, waitMs: number): Promise<void> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const { rows } = await pool.query<{ locked: boolean }>('select pg_try_advisory_lock($1) as locked', [MIGRATION_LOCK_KEY]);
    if (rows[0]?.locked) return;
    if (Date.now() >= deadline) throw new Error(`Another migration held the migration lock for more than ${waitMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, LOCK_POLL_MS));
  }
}

/**
 * Applies every pending migration to the database at `url`, under a session-level advisory lock. Drizzle's migrator
 * takes no lock of its own: two at once (two deploys, a deploy and a local `npm run db:migrate`) would both apply the
 * same migrations, and one fail. Its pool has one connection, so the lock, the migrations and the unlock all run on
 * the session that holds it; the lock is polled (pg_try_advisory_lock) rather than waited for in one statement, so
 * that the wait is bounded by `lockWaitMs` rather than by the statement timeout. The second one in then finds nothing
 * left to apply: migrating is idempotent.
 */
export async function migrateDatabase(
  url: string,
  { folder = MIGRATIONS_FOLDER, lockWaitMs = 600_000 }: MigrateOptions = {},
): Promise<void> {
  const { db, pool } = createDb(url, 1);
  try {
    await takeLock(pool, lockWaitMs);
    try {
      // A migration (an index on a large table) may take longer than the service's statement timeout.
      await pool.query('set statement_timeout = 0');
      await migrate(db, { migrationsFolder: folder });
    } finally {
      await pool.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => {});
    }
  } finally {
    await pool.end();
  }
}
