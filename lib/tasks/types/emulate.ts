import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { config } from '#lib/config';
import { defineTaskType } from '#lib/tasks/types/define';

// Runs must end well inside the processor function's 15-minute limit (serverless.yml).
const ms = z.number().int().min(0).max(600_000);

export const emulatePayload = z
  .strictObject({
    min_ms: ms.optional().meta({ description: 'Shortest random wait (default from EMULATE_MIN_MS)' }),
    max_ms: ms.optional().meta({ description: 'Longest random wait (default from EMULATE_MAX_MS)' }),
    duration_ms: ms.optional().meta({ description: 'Fixed wait; overrides the range' }),
    failure_rate: z.number().min(0).max(1).optional().meta({ description: 'Probability of failing (default from EMULATE_FAILURE_RATE)' }),
  })
  .refine((p) => p.min_ms === undefined || p.max_ms === undefined || p.min_ms <= p.max_ms, {
    message: 'min_ms must not be greater than max_ms',
    path: ['min_ms'],
  })
  .meta({ id: 'EmulatePayload' });

/** Thrown by `emulate` when its dice say fail. */
export class EmulatedFailure extends Error {
  override name = 'EmulatedFailure';
}

const STEPS = 10;

/** The processing emulation: waits a random (or fixed) time, reporting progress, then succeeds or fails at random. */
export const emulate = defineTaskType({
  name: 'emulate',
  description: 'Waits a random time, then succeeds or fails at random (the processing emulation)',
  payload: emulatePayload,
  timeoutMs: 840_000,
  async run(p, { signal, progress }) {
    const cfg = config();
    let min = p.min_ms ?? cfg.EMULATE_MIN_MS;
    let max = p.max_ms ?? cfg.EMULATE_MAX_MS;
    // One bound given by the payload wins over the configured other one.
    if (min > max) {
      if (p.max_ms === undefined) max = min;
      else min = max;
    }
    const wait = p.duration_ms ?? Math.round(min + Math.random() * (max - min));
    if (wait > 0) {
      for (let step = 1; step <= STEPS; step++) {
        await sleep(wait / STEPS, undefined, { signal });
        progress(Math.round((step * 100) / STEPS));
      }
    }
    signal.throwIfAborted();
    const failureRate = p.failure_rate ?? cfg.EMULATE_FAILURE_RATE;
    if (failureRate > 0 && Math.random() < failureRate) {
      throw new EmulatedFailure(`Emulated failure (failure_rate ${failureRate})`);
    }
    return { slept_ms: wait };
  },
});
