import { afterAll, beforeAll } from 'vitest';
import { resetConfig } from '#lib/config';
import { closeDb } from '#lib/db/client';
import { closeQueue } from '#lib/queue/client';
import { createTestDatabase, type TestDatabase } from './db';

/** Points the process-wide clients at a fresh database for this test file (and the given extra env). */
export function useTestApp(env: Record<string, string> = {}): { readonly db: TestDatabase } {
  const holder = {} as { db: TestDatabase };
  const saved: Record<string, string | undefined> = {};
  beforeAll(async () => {
    holder.db = await createTestDatabase();
    const all = { QUEUE_DRIVER: 'postgres', ...env, DATABASE_URL: holder.db.url };
    for (const [k, v] of Object.entries(all)) {
      saved[k] = process.env[k];
      process.env[k] = v;
    }
    resetConfig();
  });
  afterAll(async () => {
    await closeQueue();
    await closeDb();
    await holder.db?.drop();
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    resetConfig();
  });
  return holder;
}
