import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createQueue } from '#lib/queue/factory';
import type { Consumer, MessageBatchHandler, Queue, ReceivedMessage } from '#lib/queue/types';
import { waitUntil } from '#lib/time';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { requireRabbitMq } from '../helpers/external-services';

// Slots, not batches: a consumer holds at most `slots` messages, takes the next as soon as one is settled, and
// never takes more than it has free slots, so that a message of higher priority published later is the next taken.

const rabbitMq = await requireRabbitMq();
const namespace = () => `slots-${randomBytes(4).toString('hex')}`;

let database: TestDatabase | undefined;
const drivers = [
  {
    driver: 'postgres' as const,
    available: true,
    create: (ns: string) => createQueue({ driver: 'postgres', namespace: ns, databaseUrl: database?.url }),
  },
  {
    driver: 'rabbitmq' as const,
    available: rabbitMq,
    create: (ns: string) => createQueue({ driver: 'rabbitmq', namespace: ns, expiresMs: 120_000 }),
  },
];

beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await database?.drop();
});

/** A handler that runs the messages of a batch concurrently, as the processor function does, each for `runMs(m)`. */
function runner(runMs: (m: ReceivedMessage) => number | Promise<void>) {
  const started: string[] = [];
  const ended = new Map<string, number>();
  /** The bodies of each message's batch. */
  const batchOf = new Map<string, string[]>();
  let inHand = 0;
  let peak = 0;
  const handler: MessageBatchHandler = async (batch) => {
    inHand += batch.length;
    peak = Math.max(peak, inHand);
    for (const m of batch)
      batchOf.set(
        m.body,
        batch.map((b) => b.body),
      );
    await Promise.all(
      batch.map(async (m) => {
        started.push(m.body);
        const run = runMs(m);
        await (typeof run === 'number' ? sleep(run) : run);
        ended.set(m.body, Date.now());
      }),
    );
    inHand -= batch.length;
    return { failedIds: [] };
  };
  return { handler, started, ended, batchOf, peak: () => peak };
}

describe.each(drivers)('$driver queue: slots', ({ available, create }) => {
  let queue: Queue;
  let consumer: Consumer | undefined;
  afterEach(async () => {
    await consumer?.stop(1_000);
    consumer = undefined;
    await queue?.close();
  });

  it.runIf(available)(
    'runs 50 short messages within 2 s while 4 long ones hold 4 of 40 slots; never holds more than 40',
    async () => {
      queue = create(namespace());
      const r = runner((m) => (m.body.startsWith('long') ? 8_000 : 50));
      consumer = await queue.consume('tasks', r.handler, { slots: 40, batchSize: 10 });
      for (let i = 0; i < 4; i++) {
        await queue.publish('tasks', [{ body: `long-${i}` }]);
        await sleep(100);
      }
      await waitUntil('the long ones started', () => r.started.length === 4, 5_000);
      const since = Date.now();
      await queue.publish(
        'tasks',
        Array.from({ length: 50 }, (_, i) => ({ body: `short-${i}` })),
      );
      await waitUntil('the short ones', () => [...r.ended.keys()].filter((b) => b.startsWith('short')).length === 50, 6_000);
      const last = Math.max(...[...r.ended].filter(([b]) => b.startsWith('short')).map(([, at]) => at));
      expect(last - since).toBeLessThan(2_000);
      expect([...r.ended.keys()].some((b) => b.startsWith('long'))).toBe(false);
      expect(r.peak()).toBeLessThanOrEqual(40);
    },
    20_000,
  );

  it.runIf(available)(
    'starts every HIGH message before any LOW one not started yet once a slot frees',
    async () => {
      queue = create(namespace());
      // Each message runs until the test lets it end.
      const release = new Map<string, () => void>();
      const r = runner((m) => new Promise<void>((resolve) => release.set(m.body, resolve)));
      consumer = await queue.consume('tasks', r.handler, { slots: 4, batchSize: 10 });
      for (let i = 0; i < 12; i++) await queue.publish('tasks', [{ body: `low-${String(i).padStart(2, '0')}`, priority: 1 }]);
      await waitUntil('four running', () => r.started.length === 4, 5_000);
      await queue.publish('tasks', [
        { body: 'high-0', priority: 9 },
        { body: 'medium-0', priority: 5 },
        { body: 'high-1', priority: 9 },
        { body: 'low-late', priority: 1 },
        { body: 'high-2', priority: 9 },
      ]);
      // Give a consumer that reads ahead every chance to have done so.
      await sleep(500);
      expect(r.started).toHaveLength(4);
      const runningLow = [...r.started];
      // A batch at a time: end the oldest running one, wait for the next start.
      while (r.started.length < 17) {
        const oldest = r.started.find((b) => release.has(b)) as string;
        const before = r.started.length;
        for (const body of r.batchOf.get(oldest) ?? []) {
          release.get(body)?.();
          release.delete(body);
        }
        await waitUntil('the next start', () => r.started.length > before, 5_000);
      }
      for (const end of release.values()) end();
      const after = r.started.slice(4);
      expect(runningLow.every((b) => b.startsWith('low'))).toBe(true);
      expect(after.slice(0, 4)).toEqual(['high-0', 'high-1', 'high-2', 'medium-0']);
      expect(after.slice(4).every((b) => b.startsWith('low'))).toBe(true);
      expect(r.peak()).toBeLessThanOrEqual(4);
    },
    30_000,
  );
});
