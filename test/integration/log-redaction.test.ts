import { sql } from 'drizzle-orm';
import { beforeAll, describe, expect, it } from 'vitest';
import { handler as create } from '../../functions/tasks-create';
import { useTestApp } from '../helpers/app';
import { httpEvent, invoke } from '../helpers/lambda';
import { useCapturedOutput } from '../helpers/logs';

const app = useTestApp();

/** A value that must never reach a log line: it stands for a task's payload. */
const SECRET = 'secret-marker-7f3c9a';

describe('logs of a failed query', () => {
  const output = useCapturedOutput();

  beforeAll(async () => {
    // A real failure on the insert of a create: PostgreSQL rejects the row and names its values in `detail`.
    await app.db.db.execute(sql.raw(`ALTER TABLE tasks ADD CONSTRAINT no_marker CHECK (payload::text NOT LIKE '%${SECRET}%')`));
  });

  it('keep the SQL, the message and the error code, but not the parameters or the failing row (the payload)', async () => {
    const res = await invoke(
      create,
      httpEvent({ method: 'POST', path: '/api/v1/tasks', body: { title: 'logged', type: 'checksum', payload: { text: SECRET } } }),
    );
    output.release();
    expect(res.statusCode).toBe(500);
    expect(JSON.stringify(res.body)).not.toContain(SECRET);

    const entry = output.entries().find((l) => l.message === 'unexpected error');
    expect(entry, output.written()).toBeDefined();
    expect(output.written()).not.toContain(SECRET);
    expect(entry.error.message).toMatch(/^Failed query: [\s\S]*INSERT INTO tasks/);
    expect(entry.error.message).not.toMatch(/params:/);
    expect(entry.error.params).toBeUndefined();
    expect(entry.error.cause).toMatchObject({ code: '23514', constraint: 'no_marker', message: expect.stringContaining('no_marker') });
    expect(entry.error.cause.detail).toBeUndefined();
  });
});
