import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { onTick } from '#lib/time';

const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

describe('onTick', () => {
  it('calls every callback of a cadence on one timer, and leaves no timer once all stopped (also stopping inside a tick)', async () => {
    const before = timers();
    const calls: string[] = [];
    let stopB: () => void = () => {};
    const stopA = onTick(30, () => {
      calls.push('a');
      stopA();
      stopB(); // b, not called yet in this tick, is not called at all
    });
    stopB = onTick(30, () => calls.push('b'));
    expect(timers()).toBe(before + 1);
    await sleep(50);
    expect(calls).toEqual(['a']);
    expect(timers()).toBe(before);
    // Stopping twice, and a stop from an earlier timer of the same cadence, touch nothing of a later one.
    stopA();
    const later: string[] = [];
    const stopC = onTick(30, () => later.push('c'));
    stopB();
    stopA();
    await sleep(50);
    expect(later.length).toBeGreaterThan(0);
    stopC();
    expect(timers()).toBeLessThanOrEqual(before);
  });
});
