import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/db';

const run = promisify(execFile);

// The design notes' way of running a queue consumer by hand: `serverless invoke local --stage local` with a recorded event.
describe('serverless invoke local with the example events', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => db?.drop());

  const invoke = async (fn: string, event: string) => {
    const { stdout } = await run(
      path.resolve('node_modules/.bin/serverless'),
      ['invoke', 'local', '--stage', 'local', '-f', fn, '--path', event],
      {
        env: { ...process.env, DATABASE_URL: db.url, LOG_LEVEL: 'WARN' },
        timeout: 120_000,
      },
    );
    // The answer is printed last, indented over several lines; log and metric (EMF) lines come before it.
    return JSON.parse(stdout.slice(stdout.lastIndexOf('\n{\n') + 1));
  };

  it('intake creates the task of test/fixtures/events/sqs-task-intake.json', async () => {
    expect(await invoke('intake', 'test/fixtures/events/sqs-task-intake.json')).toEqual({ batchItemFailures: [] });
    const rows = await db.pool.query<{ title: string; status: string }>(
      "SELECT title, status FROM tasks WHERE idempotency_key = 'intake-example-1'",
    );
    expect(rows.rows).toEqual([{ title: 'Created from the intake queue', status: 'PENDING' }]);
  }, 180_000);

  it('processor takes test/fixtures/events/sqs-tasks.json and rmq-tasks.json (an unknown task is skipped)', async () => {
    expect(await invoke('processor', 'test/fixtures/events/sqs-tasks.json')).toEqual({ batchItemFailures: [] });
    expect(await invoke('processor', 'test/fixtures/events/rmq-tasks.json')).toEqual({ batchItemFailures: [] });
  }, 180_000);
});
