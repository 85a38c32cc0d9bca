import { chmodSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { startEmbeddedPostgres } from '#local/embedded-postgres';
import { freePort } from '../helpers/offline';

// What `npm start` does with nothing installed: a server whose data lives in a folder of the project
// (`.data/postgres`), created on the first start, in folders that do not exist yet, and kept between runs.
describe('embedded PostgreSQL with a kept data folder', () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'tasks-embedded-'));
  // A project folder as git makes it (mkdtemp's 700 would keep the server's user, as root: postgres, out).
  chmodSync(root, 0o755);
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  async function query(url: string, text: string) {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      return (await client.query(text)).rows;
    } finally {
      await client.end();
    }
  }

  it('creates its folders, keeps the data across a restart, and leaves the folders around it alone', async () => {
    const project = path.join(root, 'project');
    const dir = path.join(project, '.data', 'postgres');
    const port = await freePort();
    const modeBefore = statSync(root).mode;

    const first = await startEmbeddedPostgres({ port, persistent: true, dir, database: 'tasks' });
    try {
      await query(first.url, 'CREATE TABLE kept (n int); INSERT INTO kept VALUES (42)');
    } finally {
      await first.stop();
    }
    const second = await startEmbeddedPostgres({ port, persistent: true, dir, database: 'tasks' });
    try {
      expect(await query(second.url, 'SELECT n FROM kept')).toEqual([{ n: 42 }]);
    } finally {
      await second.stop();
    }
    // The data folder is private to the server; the project's folders keep their usual, passable mode.
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(path.join(project, '.data')).mode & 0o055).toBe(0o055);
    expect(statSync(root).mode).toBe(modeBefore);
    expect(statSync(root).uid).toBe(process.getuid?.());
  });

  it.runIf(process.getuid?.() === 0)('says what to do when, run as root, the postgres user cannot reach the data folder', async () => {
    const closed = mkdtempSync(path.join(os.tmpdir(), 'tasks-embedded-closed-'));
    try {
      chmodSync(closed, 0o700);
      const start = startEmbeddedPostgres({ port: await freePort(), persistent: true, dir: path.join(closed, 'data') });
      await expect(start).rejects.toThrow(/Permission denied[\s\S]*EMBEDDED_PG_DIR/);
    } finally {
      rmSync(closed, { recursive: true, force: true });
    }
  });
});
