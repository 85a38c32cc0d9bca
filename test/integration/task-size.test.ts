import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { toSqsEvent } from '#lib/queue/events';
import { createTask } from '#lib/tasks/commands';
import { getTask } from '#lib/tasks/queries';
import { handler as processor } from '../../functions/processor';
import { handler as create } from '../../functions/tasks-create';
import { handler as get } from '../../functions/tasks-get';
import { handler as list } from '../../functions/tasks-list';
import { useTestApp } from '../helpers/app';
import { fakeContext, httpEvent, invoke } from '../helpers/lambda';

// A small result limit, so that a real task type's result can cross it.
const app = useTestApp({ TASK_RESULT_MAX_BYTES: '128' });

/** The list answer as sent: its size in bytes and its parsed body. */
async function listRaw(query: Record<string, string>) {
  const res = (await list(httpEvent({ method: 'GET', path: '/api/v1/tasks', query }), fakeContext())) as APIGatewayProxyStructuredResultV2;
  const body = res.body as string;
  return { statusCode: res.statusCode, bytes: Buffer.byteLength(body), body: JSON.parse(body) };
}

/** Sizes of a task's values as PostgreSQL writes them as JSON text. */
async function storedSizes(id: string) {
  const r = await app.db.db.execute<{ payload: number; result: number | null }>(
    sql`SELECT octet_length(payload::text) AS payload, octet_length(result::text) AS result FROM tasks WHERE id = ${id}`,
  );
  return r.rows[0];
}

describe('list items leave out large payloads and results', () => {
  it('answers limit=100 over 30 tasks of ~220 KB payloads in well under 1 MB, each saying what it left out', async () => {
    // 73,000 three-byte characters: about 220 KB of JSON, under the 256 KiB a create accepts.
    const big = { text: '€'.repeat(73_000) };
    const bigIds: string[] = [];
    for (let i = 0; i < 30; i++) {
      const res = await invoke(
        create,
        httpEvent({ method: 'POST', path: '/api/v1/tasks', body: { title: `big ${i}`, type: 'checksum', payload: big } }),
      );
      expect(res.statusCode).toBe(201);
      bigIds.push(res.body.id);
    }
    expect((await storedSizes(bigIds[0] as string))?.payload).toBeGreaterThan(219_000);
    const small = await createTask({ type: 'emulate', title: 'small', priority: 'LOW', payload: { duration_ms: 5 } });
    // A completed task with a large result (written as a run would, in one statement) and one with a small one.
    const bigResult = await createTask({ type: 'emulate', title: 'big result', priority: 'LOW', payload: {} });
    const smallResult = await createTask({ type: 'emulate', title: 'small result', priority: 'LOW', payload: {} });
    const nullResult = await createTask({ type: 'emulate', title: 'null result', priority: 'LOW', payload: {} });
    const rows = Array.from({ length: 2_000 }, (_, i) => ({ row: i, value: 'x'.repeat(100) }));
    await app.db.db.execute(
      sql`UPDATE tasks SET status = 'COMPLETED', result = ${JSON.stringify({ rows })}::jsonb WHERE id = ${bigResult.task.id}`,
    );
    await app.db.db.execute(sql`UPDATE tasks SET status = 'COMPLETED', result = '{"slept_ms": 5}' WHERE id = ${smallResult.task.id}`);
    // A type that returns nothing completes with JSON null (not SQL NULL): nothing was left out.
    await app.db.db.execute(sql`UPDATE tasks SET status = 'COMPLETED', result = 'null' WHERE id = ${nullResult.task.id}`);

    const page = await listRaw({ limit: '100' });
    expect(page.statusCode).toBe(200);
    expect(page.body.total).toBe(34);
    console.log(`GET /api/v1/tasks?limit=100 over 30 tasks of ~220 KB payloads: ${page.bytes} bytes`);
    expect(page.bytes).toBeLessThan(1_000_000);

    const byId = new Map(page.body.items.map((t: { id: string }) => [t.id, t]));
    for (const id of bigIds) {
      expect(byId.get(id)).toMatchObject({
        id,
        title: expect.stringMatching(/^big /),
        payload: null,
        payload_omitted: true,
        result: null,
        result_omitted: false,
      });
    }
    expect(byId.get(small.task.id)).toMatchObject({ payload: { duration_ms: 5 }, payload_omitted: false, result_omitted: false });
    expect(byId.get(bigResult.task.id)).toMatchObject({
      payload: {},
      payload_omitted: false,
      result: null,
      result_omitted: true,
      status: 'COMPLETED',
    });
    expect(byId.get(smallResult.task.id)).toMatchObject({ result: { slept_ms: 5 }, result_omitted: false });
    expect(byId.get(nullResult.task.id)).toMatchObject({ status: 'COMPLETED', result: null, result_omitted: false });

    // The task itself still has everything.
    const one = await invoke(
      get,
      httpEvent({ method: 'GET', path: `/api/v1/tasks/${bigIds[0]}`, pathParameters: { id: bigIds[0] as string } }),
    );
    expect(one.statusCode).toBe(200);
    expect(one.body.payload).toEqual({ ...big, algorithm: 'sha256', rounds: 1 });
    expect(one.body).not.toHaveProperty('payload_omitted');
    expect((await getTask(bigResult.task.id)).result).toEqual({ rows });
  });

  it('keeps a value of exactly 8 KiB as JSON and leaves out one a byte longer', async () => {
    // PostgreSQL writes {"text": "…"} with 12 characters around the text.
    const at = await createTask({ type: 'checksum', title: 'at the limit', priority: 'LOW', payload: { text: 'a'.repeat(8192 - 12) } });
    const over = await createTask({ type: 'checksum', title: 'over the limit', priority: 'LOW', payload: { text: 'a'.repeat(8192 - 11) } });
    // Only the text: the defaults the type adds would change the sizes.
    for (const [t, n] of [
      [at, 8192 - 12],
      [over, 8192 - 11],
    ] as const) {
      await app.db.db.execute(sql`UPDATE tasks SET payload = jsonb_build_object('text', ${'a'.repeat(n)}::text) WHERE id = ${t.task.id}`);
    }
    expect((await storedSizes(at.task.id))?.payload).toBe(8192);
    expect((await storedSizes(over.task.id))?.payload).toBe(8193);

    const page = await listRaw({ search: 'the limit', limit: '10' });
    const byTitle = new Map(page.body.items.map((t: { title: string }) => [t.title, t]));
    expect(byTitle.get('at the limit')).toMatchObject({ payload: { text: 'a'.repeat(8192 - 12) }, payload_omitted: false });
    expect(byTitle.get('over the limit')).toMatchObject({ payload: null, payload_omitted: true });
  });
});

describe('a task type result over TASK_RESULT_MAX_BYTES', () => {
  it('fails the run with the sizes instead of storing the result', async () => {
    // As JSON, a sha256 result is 106 bytes and a sha512 result 170: the limit here is 128.
    const fits = await createTask({ type: 'checksum', title: 'sha256', priority: 'LOW', payload: { text: 'abc', algorithm: 'sha256' } });
    const tooLarge = await createTask({
      type: 'checksum',
      title: 'sha512',
      priority: 'LOW',
      payload: { text: 'abc', algorithm: 'sha512' },
    });
    const bodies = [fits, tooLarge].map((t) => ({
      id: t.task.id,
      body: JSON.stringify({ task_id: t.task.id }),
      priority: 5,
      receiveCount: 1,
    }));
    expect(await processor(toSqsEvent('tasks', bodies), fakeContext('processor'))).toEqual({ batchItemFailures: [] });

    expect(await getTask(fits.task.id)).toMatchObject({ status: 'COMPLETED', result: { algorithm: 'sha256', rounds: 1 } });
    expect(await getTask(tooLarge.task.id)).toMatchObject({
      status: 'FAILED',
      result: null,
      error: 'result too large: 170 bytes; the limit is 128 bytes',
    });
  });
});
