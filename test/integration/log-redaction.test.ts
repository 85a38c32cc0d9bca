import { sql } from 'drizzle-orm';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { logger } from '#lib/logger';
import { handler as create } from '../../functions/tasks-create';
import { useTestApp } from '../helpers/app';
import { httpEvent, invoke } from '../helpers/lambda';

const app = useTestApp();

/** A value that must never reach a log line: it stands for a task's payload. */
const SECRET = 'secret-marker-7f3c9a';

describe('logs of a failed query', () => {
  let written = '';
  const writes = { out: process.stdout.write, err: process.stderr.write };
  const capture = (chunk: unknown) => {
    written += String(chunk);
    return true;
  };

  beforeEach(() => {
    written = '';
    // Powertools writes through a Console of its own over process.stdout and process.stderr.
    process.stdout.write = capture as typeof process.stdout.write;
    process.stderr.write = capture as typeof process.stderr.write;
    logger.setLogLevel('INFO');
  });
  afterEach(() => {
    process.stdout.write = writes.out;
    process.stderr.write = writes.err;
    logger.setLogLevel('SILENT');
  });

  beforeAll(async () => {
    // A real failure on the insert of a create: PostgreSQL rejects the row and names its values in `detail`.
    await app.db.db.execute(sql.raw(`ALTER TABLE tasks ADD CONSTRAINT no_marker CHECK (payload::text NOT LIKE '%${SECRET}%')`));
  });

  const entries = () =>
    written
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l));

  it('keep the SQL, the message and the error code, but not the parameters or the failing row (the payload)', async () => {
    const res = await invoke(
      create,
      httpEvent({ method: 'POST', path: '/api/v1/tasks', body: { title: 'logged', type: 'checksum', payload: { text: SECRET } } }),
    );
    process.stdout.write = writes.out;
    process.stderr.write = writes.err;
    expect(res.statusCode).toBe(500);
    expect(JSON.stringify(res.body)).not.toContain(SECRET);

    const entry = entries().find((l) => l.message === 'unexpected error');
    expect(entry, written).toBeDefined();
    expect(written).not.toContain(SECRET);
    expect(entry.error.message).toMatch(/^Failed query: [\s\S]*INSERT INTO tasks/);
    expect(entry.error.message).not.toMatch(/params:/);
    expect(entry.error.params).toBeUndefined();
    expect(entry.error.cause).toMatchObject({ code: '23514', constraint: 'no_marker', message: expect.stringContaining('no_marker') });
    expect(entry.error.cause.detail).toBeUndefined();
  });
});
