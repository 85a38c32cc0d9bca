import path from 'node:path';
import { migrate } from 'drizzle-orm/node-postgres/migrator';
import { createDb } from '#lib/db/client';

/** Folder of the SQL migrations written by drizzle-kit. */
export const MIGRATIONS_FOLDER = path.resolve(__dirname, '../../drizzle');

/** Applies every pending migration to the database at `url`. */
export async function migrateDatabase(url: string): Promise<void> {
  // No statement timeout: building an index on a large table takes longer than any request may.
  const { db, pool } = createDb(url, 1, undefined, 0);
  try {
    await migrate(db, { migrationsFolder: MIGRATIONS_FOLDER });
  } finally {
    await pool.end();
  }
}
