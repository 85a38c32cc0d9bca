import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { checksum } from '#lib/tasks/types/checksum';
import { EmulatedFailure, emulate } from '#lib/tasks/types/emulate';
import { findTaskType, TASK_TYPE_NAMES } from '#lib/tasks/types/index';

const ctx = (signal = new AbortController().signal) => {
  const reported: number[] = [];
  return { reported, ctx: { signal, progress: (p: number) => reported.push(p) } };
};

describe('task type registry', () => {
  it('knows emulate and checksum, and nothing inherited from Object', () => {
    expect(TASK_TYPE_NAMES).toEqual(['emulate', 'checksum']);
    expect(findTaskType('emulate')).toBe(emulate);
    expect(findTaskType('toString')).toBeUndefined();
    expect(findTaskType('__proto__')).toBeUndefined();
  });
});

describe('emulate', () => {
  it('waits the fixed duration, reports progress up to 100 and returns slept_ms', async () => {
    const { reported, ctx: c } = ctx();
    const started = Date.now();
    const result = await emulate.run(emulate.payload.parse({ duration_ms: 50, failure_rate: 0 }), c);
    expect(result).toEqual({ slept_ms: 50 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(45);
    expect(reported).toEqual([10, 20, 30, 40, 50, 60, 70, 80, 90, 100]);
  });

  it('picks a wait within min_ms..max_ms', async () => {
    for (let i = 0; i < 5; i++) {
      const r = (await emulate.run(emulate.payload.parse({ min_ms: 5, max_ms: 15, failure_rate: 0 }), ctx().ctx)) as { slept_ms: number };
      expect(r.slept_ms).toBeGreaterThanOrEqual(5);
      expect(r.slept_ms).toBeLessThanOrEqual(15);
    }
  });

  it('fails with failure_rate 1', async () => {
    await expect(emulate.run(emulate.payload.parse({ duration_ms: 0, failure_rate: 1 }), ctx().ctx)).rejects.toBeInstanceOf(
      EmulatedFailure,
    );
  });

  it('stops at once when its signal fires', async () => {
    const ac = new AbortController();
    const started = Date.now();
    const run = emulate.run(emulate.payload.parse({ duration_ms: 10_000, failure_rate: 0 }), ctx(ac.signal).ctx);
    setTimeout(() => ac.abort(new Error('cancelled')), 30);
    await expect(run).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('rejects min_ms above max_ms and unknown fields', () => {
    expect(emulate.payload.safeParse({ min_ms: 10, max_ms: 5 }).success).toBe(false);
    expect(emulate.payload.safeParse({ sleep: 5 }).success).toBe(false);
  });
});

describe('checksum', () => {
  it('hashes the text', async () => {
    const r = await checksum.run(checksum.payload.parse({ text: 'hello' }), ctx().ctx);
    expect(r).toEqual({ algorithm: 'sha256', rounds: 1, hex: createHash('sha256').update('hello').digest('hex') });
  });

  it('stretches over rounds, reporting progress', async () => {
    const { reported, ctx: c } = ctx();
    const r = (await checksum.run(checksum.payload.parse({ text: 'a', algorithm: 'md5', rounds: 25_000 }), c)) as { hex: string };
    let d = createHash('md5').update('a').digest();
    for (let i = 1; i < 25_000; i++) d = createHash('md5').update(d).digest();
    expect(r.hex).toBe(d.toString('hex'));
    expect(reported.length).toBeGreaterThan(1);
  });

  it('honours an aborted signal between chunks', async () => {
    const ac = new AbortController();
    ac.abort(new Error('timeout'));
    await expect(checksum.run(checksum.payload.parse({ text: 'a', rounds: 100_000 }), ctx(ac.signal).ctx)).rejects.toThrow('timeout');
  });
});
