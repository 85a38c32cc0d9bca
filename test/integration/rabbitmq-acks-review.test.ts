import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createQueue } from '#lib/queue/factory';
import type { MessageBatchHandler, Queue } from '#lib/queue/types';
import { waitUntil } from '#lib/time';
import { requireRabbitMq } from '../helpers/external-services';

const rabbitMq = await requireRabbitMq();
const namespace = () => `qa-${randomBytes(4).toString('hex')}`;

describe.runIf(rabbitMq)('rabbitmq acknowledgements (review)', () => {
  let queue: Queue;
  beforeEach(() => {
    queue = createQueue({ driver: 'rabbitmq', namespace: namespace(), expiresMs: 120_000, retryDelayMs: 50 });
  });
  afterEach(async () => {
    await queue.close();
  });

  it('settles every message exactly once under mixed outcomes, out-of-order batch ends and retries', async () => {
    const N = 400;
    await queue.publish(
      'tasks',
      Array.from({ length: N }, (_, i) => ({ body: `m${i}` })),
    );
    const handled = new Map<string, number>();
    const failedOnce = new Set<string>();
    const handler: MessageBatchHandler = async (batch) => {
      await sleep(Math.floor(Math.random() * 15));
      const failedIds: string[] = [];
      for (const m of batch) {
        // A fifth of the messages fail their first receive: retried later (republished, then acknowledged).
        if (Number(m.body.slice(1)) % 5 === 0 && !failedOnce.has(m.body)) {
          failedOnce.add(m.body);
          failedIds.push(m.id);
        } else handled.set(m.body, (handled.get(m.body) ?? 0) + 1);
      }
      return { failedIds };
    };
    const consumer = await queue.consume('tasks', handler, { slots: 30, batchSize: 3 });
    await waitUntil('all handled', () => handled.size === N, 20_000);
    await sleep(300);
    await consumer.stop(2_000);
    expect([...handled.values()].filter((n) => n !== 1)).toEqual([]);
    expect(await queue.depth('tasks')).toBe(0);
  }, 30_000);

  it('sends the acknowledgement of a batch that ends in the very turn its stop times out', async () => {
    const STOP_MS = 250;
    await queue.publish('tasks', [{ body: 'x' }]);
    let release: () => void = () => {};
    let started = false;
    const handled: string[] = [];
    const handler: MessageBatchHandler = async (batch) => {
      started = true;
      await new Promise<void>((resolve) => {
        release = resolve;
      });
      handled.push(...batch.map((m) => m.body));
      return { failedIds: [] };
    };
    const consumer = await queue.consume('tasks', handler, { slots: 1, batchSize: 1 });
    await waitUntil('the batch running', () => started);
    // The batch ends in the same timers phase as the stop timeout, just before it (same duration, created first).
    const original = globalThis.setTimeout;
    let armed = true;
    globalThis.setTimeout = ((fn: () => void, ms?: number, ...rest: unknown[]) => {
      if (armed && ms === STOP_MS) {
        armed = false;
        original(() => release(), ms);
      }
      return (original as (...a: unknown[]) => NodeJS.Timeout)(fn, ms, ...rest);
    }) as typeof setTimeout;
    try {
      await consumer.stop(STOP_MS);
    } finally {
      globalThis.setTimeout = original;
    }
    expect(handled).toEqual(['x']);
    await sleep(100);
    // Handled and reported done before the stop finished: it must not be delivered again.
    const again: string[] = [];
    const second = await queue.consume(
      'tasks',
      async (batch) => {
        again.push(...batch.map((m) => m.body));
        return { failedIds: [] };
      },
      { slots: 1, batchSize: 1 },
    );
    await sleep(500);
    await second.stop(1_000);
    expect(again).toEqual([]);
  });
});
