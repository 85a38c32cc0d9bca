import { describe, expect, it } from 'vitest';
import { db } from '#lib/db/client';
import { renewLeases } from '#lib/db/leases';
import { saveProgress } from '#lib/db/tasks';
import { createTask } from '#lib/tasks/commands';
import { useTestApp } from '../helpers/app';

const app = useTestApp({});

describe('the shared progress statement', () => {
  it('never deadlocks with the lease renewals of the same runs (both lock several task rows)', async () => {
    const created = await Promise.all(
      Array.from({ length: 20 }, () =>
        createTask({ type: 'emulate', title: 't', priority: 'MEDIUM', payload: { duration_ms: 1, failure_rate: 0 } }),
      ),
    );
    const ids = created.map((c) => c.task.id);
    const { rows } = await app.db.pool.query<{ id: string; started_at: string }>(
      `UPDATE tasks SET status = 'IN_PROGRESS', started_at = now(), heartbeat_at = now(), attempts = 1
       WHERE id = ANY($1) RETURNING id, started_at::text`,
      [ids],
    );
    const runs = rows.map((r) => ({ id: r.id, startedAt: r.started_at })).sort((a, b) => (a.id < b.id ? -1 : 1));
    // The order of a progress batch is the order the runs' writers flushed on the shared tick: not the id order.
    const progressOrder = [...runs].reverse();
    const errors: string[] = [];
    const until = Date.now() + 4_000;
    const loop = async (fn: () => Promise<unknown>) => {
      while (Date.now() < until) {
        await fn().catch((err: { code?: string; cause?: { code?: string } }) => errors.push(err.cause?.code ?? err.code ?? String(err)));
      }
    };
    let percent = 0;
    await Promise.all([
      loop(() => renewLeases(db(), runs)),
      loop(() =>
        saveProgress(
          db(),
          progressOrder.map((r) => ({ ...r, percent: ++percent % 100 })),
        ),
      ),
    ]);
    expect(errors).toEqual([]);
  }, 20_000);
});
