import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { migrateDatabase } from '#lib/db/migrate';
import { startEmbeddedPostgres } from '../../scripts/embedded-postgres';

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
    templateDatabase: string;
  }
}

// One template per run, so that runs sharing a server do not drop each other's template.
const TEMPLATE = `tasks_test_template_${process.pid}`;

/** One PostgreSQL server for the run: DATABASE_URL when set, an embedded one otherwise; a migrated template to copy. */
export default async function setup(project: TestProject) {
  let stop: (() => Promise<void>) | undefined;
  let serverUrl = process.env.DATABASE_URL;
  if (!serverUrl) {
    const embedded = await startEmbeddedPostgres({ port: 54331, persistent: false });
    serverUrl = embedded.url;
    stop = embedded.stop;
  }
  const admin = new pg.Client({ connectionString: serverUrl, connectionTimeoutMillis: 5_000 });
  try {
    await admin.connect();
  } catch (err) {
    throw new Error(`PostgreSQL at ${redact(serverUrl)} is not reachable: ${(err as Error).message}`);
  }
  await admin.query(`DROP DATABASE IF EXISTS ${TEMPLATE} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${TEMPLATE}`);
  await admin.end();
  const templateUrl = new URL(serverUrl);
  templateUrl.pathname = `/${TEMPLATE}`;
  await migrateDatabase(templateUrl.toString());
  project.provide('databaseUrl', serverUrl);
  project.provide('templateDatabase', TEMPLATE);
  return async () => {
    if (stop) return stop();
    const c = new pg.Client({ connectionString: serverUrl });
    await c.connect();
    await c.query(`DROP DATABASE IF EXISTS ${TEMPLATE} WITH (FORCE)`);
    await c.end();
  };
}

function redact(url: string): string {
  return url.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@');
}
