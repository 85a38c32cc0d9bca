import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { config } from '#lib/config';
import { createQueue, type QueueDriver } from '#lib/queue/factory';
import type { Consumer, MessageBatchHandler, MessageBatchOutcome, Queue, ReceivedMessage } from '#lib/queue/types';
import { waitUntil } from '#lib/time';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { type LocalSqs, requireRabbitMq, startLocalSqs, startTcpProxy } from '../helpers/external-services';

const rabbitMq = await requireRabbitMq();

const RETRY_DELAY_MS = 200;
// Queues of a throwaway namespace on the shared RabbitMQ are deleted by the broker once unused that long.
const EXPIRES_MS = 120_000;

const namespace = () => `qc-${randomBytes(4).toString('hex')}`;

/** Records every call of a handler; `decide` answers for a call (default: everything succeeded). */
function recorder(decide?: (batch: ReceivedMessage[], call: number) => MessageBatchOutcome | Promise<MessageBatchOutcome>) {
  const calls: ReceivedMessage[][] = [];
  const handler: MessageBatchHandler = async (batch) => {
    calls.push(batch);
    return decide ? decide(batch, calls.length) : { failedIds: [] };
  };
  const deliveries = () => calls.flat().map((m) => ({ body: m.body, receiveCount: m.receiveCount }));
  return { calls, handler, deliveries };
}

const byBody = (a: { body: string; receiveCount: number }, b: { body: string; receiveCount: number }) =>
  a.body.localeCompare(b.body) || a.receiveCount - b.receiveCount;

interface Adapter {
  driver: QueueDriver;
  available: boolean;
  priorities: boolean;
  setup(): Promise<void>;
  teardown(): Promise<void>;
  create(namespace: string): Queue;
  /** The same adapter pointed at a server that is not there. */
  unreachable(): Queue;
}

let database: TestDatabase | undefined;
let sqs: LocalSqs | undefined;
const savedEnv: Record<string, string | undefined> = {};
const SQS_ENV = ['AWS_ENDPOINT_URL_SQS', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'] as const;

const adapters: Adapter[] = [
  {
    driver: 'postgres',
    available: true,
    priorities: true,
    async setup() {
      database = await createTestDatabase();
    },
    async teardown() {
      await database?.drop();
    },
    create: (ns) => createQueue({ driver: 'postgres', namespace: ns, databaseUrl: database?.url, retryDelayMs: RETRY_DELAY_MS }),
    unreachable: () => createQueue({ driver: 'postgres', databaseUrl: 'postgres://postgres@127.0.0.1:1/none' }),
  },
  {
    driver: 'rabbitmq',
    available: rabbitMq,
    priorities: true,
    async setup() {},
    async teardown() {},
    create: (ns) => createQueue({ driver: 'rabbitmq', namespace: ns, retryDelayMs: RETRY_DELAY_MS, expiresMs: EXPIRES_MS }),
    unreachable: () => createQueue({ driver: 'rabbitmq', rabbitMqUrl: 'amqp://guest:guest@127.0.0.1:1' }),
  },
  {
    driver: 'sqs',
    available: true,
    // One SQS queue per priority band, the high one read first (lib/queue/sqs.ts).
    priorities: true,
    async setup() {
      sqs = await startLocalSqs();
      // The adapter finds the endpoint and credentials the way the SDK does in production: from the environment.
      for (const key of SQS_ENV) savedEnv[key] = process.env[key];
      process.env.AWS_ENDPOINT_URL_SQS = sqs.endpoint;
      process.env.AWS_ACCESS_KEY_ID = 'test';
      process.env.AWS_SECRET_ACCESS_KEY = 'test';
    },
    async teardown() {
      for (const key of SQS_ENV) {
        if (savedEnv[key] === undefined) delete process.env[key];
        else process.env[key] = savedEnv[key];
      }
      await sqs?.close();
    },
    // local-aws-sqs holds a long poll open until the batch is full (AWS answers as soon as it has a message),
    // so the tests poll short.
    create: (ns) => createQueue({ driver: 'sqs', namespace: ns, retryDelayMs: RETRY_DELAY_MS, waitTimeSeconds: 0 }),
    unreachable: () =>
      createQueue({ driver: 'sqs', sqsEndpoint: 'http://127.0.0.1:1', sqsCredentials: { accessKeyId: 'test', secretAccessKey: 'test' } }),
  },
];

describe.each(adapters)('$driver queue', (adapter) => {
  describe.runIf(adapter.available)('conformance', () => {
    let queue: Queue;
    let consumers: Consumer[] = [];

    const consume = async (name: Parameters<Queue['consume']>[0], handler: MessageBatchHandler, options = { slots: 10, batchSize: 10 }) => {
      const consumer = await queue.consume(name, handler, options);
      consumers.push(consumer);
      return consumer;
    };

    beforeAll(() => adapter.setup());
    afterAll(() => adapter.teardown());

    // A fresh namespace per test: nothing one test leaves behind reaches the next.
    beforeEach(() => {
      queue = adapter.create(namespace());
    });
    afterEach(async () => {
      await Promise.all(consumers.map((c) => c.stop(2_000)));
      consumers = [];
      await queue.close();
    });

    it('check() passes', async () => {
      await expect(queue.check()).resolves.toBeUndefined();
    });

    it('delivers a published message once, with its body, priority and a receive count of 1', async () => {
      await queue.publish('tasks', [{ body: '{"task_id":"a"}', priority: 5 }]);
      const r = recorder();
      await consume('tasks', r.handler);
      await waitUntil('the message', () => r.calls.length === 1);
      expect(r.calls).toEqual([[{ id: expect.any(String), body: '{"task_id":"a"}', priority: 5, receiveCount: 1 }]]);
      await sleep(RETRY_DELAY_MS + 300);
      expect(r.calls).toHaveLength(1);
      expect(await queue.depth('tasks')).toBe(0);
    });

    it('hands over several messages per call, never more than batchSize', async () => {
      const bodies = Array.from({ length: 7 }, (_, i) => `m${i}`);
      await queue.publish(
        'tasks',
        bodies.map((body) => ({ body })),
      );
      const r = recorder();
      await consume('tasks', r.handler, { slots: 3, batchSize: 3 });
      await waitUntil('all messages', () => r.deliveries().length >= 7);
      expect(Math.max(...r.calls.map((c) => c.length))).toBe(3);
      expect(r.calls.every((c) => c.length <= 3)).toBe(true);
      expect(
        r
          .deliveries()
          .map((d) => d.body)
          .sort(),
      ).toEqual(bodies);
    });

    it('delivers failed ids again with receiveCount 2, and the others not', async () => {
      await queue.publish('tasks', [{ body: 'a' }, { body: 'b' }, { body: 'c' }]);
      const r = recorder((batch) => ({
        failedIds: batch.filter((m) => m.body === 'b' && m.receiveCount === 1).map((m) => m.id),
      }));
      await consume('tasks', r.handler, { slots: 3, batchSize: 3 });
      await waitUntil('b again', () => r.deliveries().some((d) => d.body === 'b' && d.receiveCount === 2));
      await sleep(RETRY_DELAY_MS + 500);
      expect(r.deliveries().sort(byBody)).toEqual([
        { body: 'a', receiveCount: 1 },
        { body: 'b', receiveCount: 1 },
        { body: 'b', receiveCount: 2 },
        { body: 'c', receiveCount: 1 },
      ]);
    });

    it('delivers the whole batch again when the handler throws', async () => {
      await queue.publish('tasks', [{ body: 'x' }, { body: 'y' }]);
      const r = recorder((_, call) => {
        if (call === 1) throw new Error('handler crashed');
        return { failedIds: [] };
      });
      await consume('tasks', r.handler, { slots: 2, batchSize: 2 });
      await waitUntil('both again', () => r.deliveries().filter((d) => d.receiveCount === 2).length === 2);
      await sleep(RETRY_DELAY_MS + 500);
      expect(r.calls[0]?.map((m) => m.body).sort()).toEqual(['x', 'y']);
      expect(r.deliveries().sort(byBody)).toEqual([
        { body: 'x', receiveCount: 1 },
        { body: 'x', receiveCount: 2 },
        { body: 'y', receiveCount: 1 },
        { body: 'y', receiveCount: 2 },
      ]);
    });

    it.skipIf(!adapter.priorities)('delivers priority 9 before priority 1 from a backlog', async () => {
      await queue.publish('tasks', [
        { body: 'low-1', priority: 1 },
        { body: 'low-2', priority: 1 },
        { body: 'low-3', priority: 1 },
      ]);
      await queue.publish('tasks', [
        { body: 'high-1', priority: 9 },
        { body: 'high-2', priority: 9 },
        { body: 'high-3', priority: 9 },
      ]);
      const r = recorder();
      await consume('tasks', r.handler, { slots: 1, batchSize: 1 });
      await waitUntil('all messages', () => r.calls.length === 6);
      expect(r.calls.map(([m]) => ({ body: m?.body, priority: m?.priority }))).toEqual([
        { body: 'high-1', priority: 9 },
        { body: 'high-2', priority: 9 },
        { body: 'high-3', priority: 9 },
        { body: 'low-1', priority: 1 },
        { body: 'low-2', priority: 1 },
        { body: 'low-3', priority: 1 },
      ]);
    });

    it('holds a message back for delayMs', async () => {
      const arrivals = new Map<string, number>();
      const r = recorder((batch) => {
        for (const m of batch) arrivals.set(m.body, Date.now());
        return { failedIds: [] };
      });
      await consume('tasks', r.handler, { slots: 1, batchSize: 1 });
      const start = Date.now();
      // Two seconds, so that a busy machine's stall does not make both messages ready at once.
      await queue.publish('tasks', [{ body: 'later', delayMs: 2_000 }]);
      await queue.publish('tasks', [{ body: 'now' }]);
      await waitUntil('both messages', () => arrivals.size === 2);
      const now = (arrivals.get('now') ?? 0) - start;
      const later = (arrivals.get('later') ?? 0) - start;
      expect(now).toBeLessThan(later);
      expect(later).toBeGreaterThanOrEqual(1_950);
      expect(later).toBeLessThan(6_000);
      expect(r.deliveries().sort(byBody)).toEqual([
        { body: 'later', receiveCount: 1 },
        { body: 'now', receiveCount: 1 },
      ]);
    });

    it('counts waiting messages (delayed ones too) and purges a queue', async () => {
      expect(await queue.depth('tasks')).toBe(0);
      await queue.publish('tasks', [{ body: '1' }, { body: '2' }, { body: '3' }]);
      await queue.publish('task_intake', [{ body: 'other' }, { body: 'delayed', delayMs: 60_000 }]);
      expect(await queue.depth('tasks')).toBe(3);
      expect(await queue.depth('task_intake')).toBe(2);
      await queue.purge('tasks');
      expect(await queue.depth('tasks')).toBe(0);
      expect(await queue.depth('task_intake')).toBe(2);
    });

    it('publishes in bulk (more than one SQS batch of 10)', async () => {
      const bodies = Array.from({ length: 25 }, (_, i) => `bulk-${String(i).padStart(2, '0')}`);
      await queue.publish(
        'tasks',
        bodies.map((body) => ({ body })),
      );
      expect(await queue.depth('tasks')).toBe(25);
      const r = recorder();
      await consume('tasks', r.handler, { slots: 20, batchSize: 10 });
      await waitUntil('all messages', () => r.deliveries().length >= 25);
      expect(
        r
          .deliveries()
          .map((d) => d.body)
          .sort(),
      ).toEqual(bodies);
    });

    it('stop() waits for the batches in hand and hands back the rest: each message is acked exactly once', async () => {
      const bodies = Array.from({ length: 12 }, (_, i) => `s${String(i).padStart(2, '0')}`);
      await queue.publish(
        'tasks',
        bodies.map((body) => ({ body })),
      );
      const acked: string[] = [];
      let running = 0;
      const slow: MessageBatchHandler = async (batch) => {
        running += 1;
        await sleep(300);
        acked.push(...batch.map((m) => m.body));
        running -= 1;
        return { failedIds: [] };
      };
      const first = await consume('tasks', slow, { slots: 4, batchSize: 2 });
      await waitUntil('a batch in hand', () => running > 0);
      await first.stop(5_000);
      expect(running).toBe(0);
      const firstShare = acked.length;
      expect(firstShare).toBeGreaterThan(0);
      expect(firstShare).toBeLessThan(12);

      const r = recorder((batch) => {
        acked.push(...batch.map((m) => m.body));
        return { failedIds: [] };
      });
      await consume('tasks', r.handler, { slots: 10, batchSize: 10 });
      await waitUntil('the rest', () => acked.length >= 12);
      await sleep(300);
      expect([...acked].sort()).toEqual(bodies);
    });

    it('publishes to and consumes from a dead-letter queue', async () => {
      await queue.publish('tasks.dlq', [{ body: '{"reason":"invalid"}', priority: 1 }]);
      expect(await queue.depth('tasks')).toBe(0);
      const r = recorder();
      await consume('tasks.dlq', r.handler);
      await waitUntil('the dead letter', () => r.calls.length === 1);
      expect(r.deliveries()).toEqual([{ body: '{"reason":"invalid"}', receiveCount: 1 }]);
    });

    it('holds at most `slots` messages at once', async () => {
      await queue.publish(
        'tasks',
        Array.from({ length: 12 }, (_, i) => ({ body: `c${i}` })),
      );
      let active = 0;
      let peak = 0;
      let handled = 0;
      await consume(
        'tasks',
        async (batch) => {
          active += 1;
          peak = Math.max(peak, active);
          await sleep(100);
          active -= 1;
          handled += batch.length;
          return { failedIds: [] };
        },
        { slots: 3, batchSize: 1 },
      );
      await waitUntil('all messages', () => handled === 12);
      expect(peak).toBe(3);
    });

    it('fails fast when the server cannot be reached', async () => {
      const down = adapter.unreachable();
      try {
        const start = Date.now();
        await Promise.all([expect(down.publish('tasks', [{ body: 'lost' }])).rejects.toThrow(), expect(down.check()).rejects.toThrow()]);
        expect(Date.now() - start).toBeLessThan(config().QUEUE_PUBLISH_TIMEOUT_MS + 1_000);
      } finally {
        await down.close();
      }
    });
  });
});

describe.runIf(rabbitMq)('rabbitmq queue recovery', () => {
  it('reconnects by itself after the connection drops and after the broker was away', async () => {
    const proxy = await startTcpProxy(config().RABBITMQ_URL);
    const queue = createQueue({ driver: 'rabbitmq', rabbitMqUrl: proxy.url, namespace: namespace(), expiresMs: EXPIRES_MS });
    try {
      const r = recorder();
      const consumer = await queue.consume('tasks', r.handler, { slots: 10, batchSize: 10 });
      await queue.publish('tasks', [{ body: 'before' }]);
      await waitUntil('the first message', () => r.deliveries().length === 1);

      proxy.dropConnections();
      await queue.publish('tasks', [{ body: 'after a drop' }]);
      await waitUntil('the message after the drop', () => r.deliveries().length === 2);

      await proxy.pause();
      const start = Date.now();
      await Promise.all([
        expect(queue.publish('tasks', [{ body: 'while away' }])).rejects.toThrow(/RabbitMQ/),
        expect(queue.check()).rejects.toThrow(/RabbitMQ/),
      ]);
      expect(Date.now() - start).toBeLessThan(config().QUEUE_PUBLISH_TIMEOUT_MS + 1_000);

      await proxy.resume();
      await waitUntil(
        'the broker back',
        () =>
          queue.check().then(
            () => true,
            () => false,
          ),
        15_000,
      );
      await queue.publish('tasks', [{ body: 'back' }]);
      await waitUntil('the message after the return', () => r.deliveries().length === 3);
      expect(r.deliveries()).toEqual([
        { body: 'before', receiveCount: 1 },
        { body: 'after a drop', receiveCount: 1 },
        { body: 'back', receiveCount: 1 },
      ]);
      await consumer.stop(2_000);
    } finally {
      await queue.close();
      await proxy.close();
    }
  });
});

describe.runIf(rabbitMq)('rabbitmq acknowledgements', () => {
  // amqplib's channel class, whose ack() sends one frame: not exported by the package, so found by its file.
  const require = createRequire(import.meta.url);
  const { Channel } = require(path.join(path.dirname(require.resolve('amqplib')), 'lib/channel_model.js')) as {
    Channel: { prototype: { ack(message: unknown, allUpTo?: boolean): void } };
  };
  let queue: Queue;
  beforeEach(() => {
    queue = createQueue({ driver: 'rabbitmq', namespace: namespace(), expiresMs: EXPIRES_MS, retryDelayMs: 50 });
  });
  afterEach(async () => {
    vi.restoreAllMocks();
    await queue.close();
  });

  it('acknowledges the messages of a batch in one frame', async () => {
    const frames = vi.spyOn(Channel.prototype, 'ack');
    await queue.publish(
      'tasks',
      Array.from({ length: 10 }, (_, i) => ({ body: `b${i}` })),
    );
    const r = recorder();
    const consumer = await queue.consume('tasks', r.handler, { slots: 10, batchSize: 10 });
    await waitUntil('ten deliveries', () => r.deliveries().length === 10);
    await waitUntil('their acknowledgements', () => frames.mock.calls.length > 0);
    await sleep(100);
    // One frame per batch handed over (the broker may push the ten in two goes), not one per message.
    expect(r.calls.length).toBeLessThanOrEqual(2);
    expect(frames.mock.calls.length).toBe(r.calls.length);
    await consumer.stop(2_000);
    // Every one of them was settled: nothing comes back to a new consumer.
    const again = recorder();
    const second = await queue.consume('tasks', again.handler, { slots: 10, batchSize: 10 });
    await sleep(300);
    expect(again.deliveries()).toEqual([]);
    expect(await queue.depth('tasks')).toBe(0);
    await second.stop(2_000);
  });

  it('never acknowledges a message still in hand along with later ones that are done', async () => {
    const bodies = Array.from({ length: 12 }, (_, i) => `c${String(i).padStart(2, '0')}`);
    await queue.publish(
      'tasks',
      bodies.map((body) => ({ body })),
    );
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let held: string[] = [];
    const done: string[] = [];
    const handler: MessageBatchHandler = async (batch) => {
      if (batch.some((m) => m.body === 'c01')) {
        held = batch.map((m) => m.body);
        await gate;
      } else done.push(...batch.map((m) => m.body));
      return { failedIds: [] };
    };
    // Batches of 2: the one holding c01 (among the oldest deliveries) waits while later batches end.
    const consumer = await queue.consume('tasks', handler, { slots: 12, batchSize: 2 });
    await waitUntil('the other batches done', () => done.length === 12 - held.length && held.length > 0);
    await sleep(100);
    // The held batch is still running: its channel closes with the stop, and the broker delivers it again.
    await consumer.stop(200);
    release();
    const r = recorder();
    const second = await queue.consume('tasks', r.handler, { slots: 12, batchSize: 12 });
    await waitUntil('the held batch again', () => r.deliveries().length >= held.length);
    await sleep(300);
    expect(
      r
        .deliveries()
        .map((d) => d.body)
        .sort(),
    ).toEqual([...held].sort());
    await second.stop(2_000);
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

describe('postgres queue notifications', () => {
  /** An embedded queue on a database of its own, with an idle consumer that records when each body arrived. */
  async function withIdleConsumer(test: (ctx: { db: TestDatabase; queue: Queue; arrivals: Map<string, number> }) => Promise<void>) {
    const db = await createTestDatabase();
    const queue = createQueue({ driver: 'postgres', namespace: namespace(), databaseUrl: db.url });
    try {
      const arrivals = new Map<string, number>();
      const consumer = await queue.consume(
        'tasks',
        async (batch) => {
          for (const m of batch) arrivals.set(m.body, Date.now());
          return { failedIds: [] };
        },
        { slots: 10, batchSize: 10 },
      );
      // The fallback poll comes every 2 s; anything faster is the notification.
      await sleep(200);
      await test({ db, queue, arrivals });
      await consumer.stop(2_000);
    } finally {
      await queue.close();
      await db.drop();
    }
  }

  it('does not lose a wake-up that comes while the consumer is claiming (30 rounds)', () =>
    withIdleConsumer(async ({ queue, arrivals }) => {
      const waits: number[] = [];
      for (let round = 0; round < 30; round++) {
        // The first announcement sends the consumer claiming (and finding nothing ready); the second comes meanwhile.
        const start = Date.now();
        const later = queue.publish('tasks', [{ body: `later ${round}`, delayMs: 60_000 }]);
        await sleep(round % 3);
        await Promise.all([later, queue.publish('tasks', [{ body: `now ${round}` }])]);
        await waitUntil(`message ${round}`, () => arrivals.has(`now ${round}`), 5_000);
        waits.push((arrivals.get(`now ${round}`) ?? 0) - start);
      }
      console.log(`[notify] 30 rounds, longest wait ${Math.max(...waits)} ms`);
      // A lost wake-up shows as a wait of up to the fallback poll's 2 s.
      expect(Math.max(...waits)).toBeLessThan(1_000);
    }));

  it('wakes an idle consumer at once, also after its listening connection was cut', () =>
    withIdleConsumer(async ({ db, queue, arrivals }) => {
      const listeners = async () =>
        (
          await db.pool.query<{ pid: number }>(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'async-task-service:queue-listener'",
          )
        ).rows.map((r) => r.pid);
      let start = Date.now();
      await queue.publish('tasks', [{ body: 'first' }]);
      await waitUntil('the first message', () => arrivals.has('first'), 3_000);
      expect((arrivals.get('first') ?? 0) - start).toBeLessThan(1_000);

      const [cut] = await listeners();
      await db.pool.query('SELECT pg_terminate_backend($1)', [cut]);
      await waitUntil('a new listener', async () => {
        const pids = await listeners();
        return pids.length === 1 && pids[0] !== cut;
      });
      await sleep(200);
      start = Date.now();
      await queue.publish('tasks', [{ body: 'second' }]);
      await waitUntil('the second message', () => arrivals.has('second'), 3_000);
      expect((arrivals.get('second') ?? 0) - start).toBeLessThan(1_000);
    }));
});
