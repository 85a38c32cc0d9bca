import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { inject } from 'vitest';
import { createDb, type Db } from '#lib/db/client';
import { createDatabase, dropDatabase } from '#local/pg-admin';

export interface TestDatabase {
  url: string;
  db: Db;
  pool: pg.Pool;
  drop(): Promise<void>;
}

/** Creates a fresh, migrated database for one test file (a copy of the migrated template). */
export async function createTestDatabase(): Promise<TestDatabase> {
  const serverUrl = inject('databaseUrl');
  const template = inject('templateDatabase');
  const name = `tasks_test_${randomBytes(6).toString('hex')}`;
  const url = await createDatabase(serverUrl, name, template);
  const { db, pool } = createDb(url, 5);
  return {
    url,
    db,
    pool,
    async drop() {
      if (!pool.ended) await pool.end();
      await dropDatabase(serverUrl, name);
    },
  };
}
