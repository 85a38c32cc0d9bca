import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { batched } from '#lib/group-commit';

describe('batched (group commit)', () => {
  it('serves the calls of one turn together, and gathers the calls made while a batch runs into the next', async () => {
    const batches: number[][] = [];
    const double = batched(async (items: number[]) => {
      batches.push(items);
      await sleep(20);
      return items.map((n) => n * 2);
    });
    const first = [1, 2].map((n) => double(n));
    await sleep(5);
    const rest = [3, 4, 5].map((n) => double(n));
    expect(await Promise.all([...first, ...rest])).toEqual([2, 4, 6, 8, 10]);
    expect(batches).toEqual([
      [1, 2],
      [3, 4, 5],
    ]);
  });

  it('keeps batches within the maximum size and answers every caller with its own result', async () => {
    const sizes: number[] = [];
    const echo = batched(
      async (items: string[]) => {
        sizes.push(items.length);
        await sleep(1);
        return items.map((s) => s.toUpperCase());
      },
      { maxBatch: 3 },
    );
    const words = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'];
    expect(await Promise.all(words.map((w) => echo(w)))).toEqual(words.map((w) => w.toUpperCase()));
    expect(sizes).toEqual([3, 3, 2]);
  });

  it('runs up to `inFlight` batches at once, then gathers the rest', async () => {
    const batches: number[][] = [];
    let running = 0;
    let most = 0;
    const run = batched(
      async (items: number[]) => {
        batches.push(items);
        most = Math.max(most, ++running);
        await sleep(10);
        running--;
        return items;
      },
      { inFlight: 2 },
    );
    const first = run(1);
    await sleep(2);
    const second = run(2);
    await sleep(2);
    const rest = [3, 4, 5].map((n) => run(n));
    expect(await Promise.all([first, second, ...rest])).toEqual([1, 2, 3, 4, 5]);
    expect(most).toBe(2);
    expect(batches).toEqual([[1], [2], [3, 4, 5]]);
  });

  it('rejects only the calls of a failing batch and goes on with the next', async () => {
    const run = batched(async (items: number[]) => {
      await sleep(5);
      if (items.includes(1)) throw new Error('batch with 1 failed');
      return items;
    });
    const failing = run(1);
    await sleep(1);
    const results = await Promise.allSettled([failing, run(2), run(3)]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'fulfilled', 'fulfilled']);
    expect((results[0] as PromiseRejectedResult).reason.message).toBe('batch with 1 failed');
    expect(await run(4)).toBe(4);
  });
});
