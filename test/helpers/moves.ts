import { sql } from 'drizzle-orm';
import { expect } from 'vitest';
import { isAllowedMove, type TaskStatus } from '#lib/model';
import type { TestDatabase } from './db';

/** Asserts that every event a test file's database holds is a move of the state machine (lib/model.ts). */
export async function expectOnlyAllowedMoves(test: TestDatabase): Promise<void> {
  const res = await test.db.execute<{ from_status: TaskStatus | null; to_status: TaskStatus; reason: string }>(
    sql`SELECT DISTINCT from_status, to_status, reason FROM task_events`,
  );
  expect(res.rows.length).toBeGreaterThan(0);
  expect(res.rows.filter((e) => !isAllowedMove(e.from_status, e.to_status))).toEqual([]);
}
