import type { TestProject } from 'vitest/node';
import { migrateDatabase } from '#lib/db/migrate';
import { buildDashboardIfStale } from '#local/dashboard-build';
import { startEmbeddedPostgres } from '#local/embedded-postgres';
import { createDatabase, dropDatabase } from '#local/pg-admin';

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
    templateDatabase: string;
  }
}

// One template per run, so that runs sharing a server do not drop each other's template.
const TEMPLATE = `tasks_test_template_${process.pid}`;

/**
 * One PostgreSQL server for the run (DATABASE_URL when set, an embedded one otherwise) with a migrated template to
 * copy, and the dashboard built if its sources changed (the dashboard's function serves dashboard/dist).
 */
export default async function setup(project: TestProject) {
  const dashboard = buildDashboardIfStale({ quiet: true });
  dashboard.catch(() => {}); // awaited below; this only keeps an early failure elsewhere from leaving it unhandled
  const embedded = process.env.DATABASE_URL ? undefined : await startEmbeddedPostgres({ port: 54331, persistent: false });
  const serverUrl = embedded?.url ?? (process.env.DATABASE_URL as string);
  try {
    await dropDatabase(serverUrl, TEMPLATE);
    await migrateDatabase(await createDatabase(serverUrl, TEMPLATE));
    await dashboard;
  } catch (err) {
    await embedded?.stop();
    throw err;
  }
  project.provide('databaseUrl', serverUrl);
  project.provide('templateDatabase', TEMPLATE);
  return async () => {
    if (embedded) return embedded.stop();
    await dropDatabase(serverUrl, TEMPLATE);
  };
}
