import { describe, expect, it } from 'vitest';
import { mapConcurrently } from '#lib/concurrency';

describe('mapConcurrently', () => {
  it('answers in the order of the items, never running more than the limit at once', async () => {
    let running = 0;
    let most = 0;
    const out = await mapConcurrently([5, 1, 4, 2, 3, 0, 6], 3, async (ms) => {
      running++;
      most = Math.max(most, running);
      await new Promise((resolve) => setTimeout(resolve, ms));
      running--;
      return ms * 10;
    });
    expect(out).toEqual([50, 10, 40, 20, 30, 0, 60]);
    expect(most).toBe(3);
  });

  it('handles no items, and a limit below one as one', async () => {
    expect(await mapConcurrently([], 4, async () => 1)).toEqual([]);
    let running = 0;
    let most = 0;
    await mapConcurrently([1, 2, 3], 0, async () => {
      most = Math.max(most, ++running);
      await Promise.resolve();
      running--;
    });
    expect(most).toBe(1);
  });
});
