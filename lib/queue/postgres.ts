import pg from 'pg';
import { whileDatabaseIsAway } from '#lib/db/retry';
import { type ConsumerDriver, Consumers, type Delivery } from '#lib/queue/consume-loop';
import {
  type AnyQueueName,
  type ConsumeOptions,
  type Consumer,
  clampPriority,
  type MessageBatchHandler,
  type OutgoingMessage,
  type Queue,
  type ReceivedMessage,
} from '#lib/queue/types';
import { withTimeout } from '#lib/time';

export interface PostgresQueueOptions {
  connectionString: string;
  /** Prefix of every queue name, so that several users can share one table. */
  namespace?: string;
  /** Connections of the queue's own pool. */
  poolMax: number;
  /** Longest wait for a publish or a check (and for a new connection of the pool). */
  publishTimeoutMs: number;
  /** Longest statement on the queue's connections. */
  statementTimeoutMs: number;
  /** How long a claimed message stays hidden from other consumers; renewed while its batch runs. */
  visibilityTimeoutMs?: number;
  /** How long a failed message waits before it is delivered again. */
  retryDelayMs?: number;
  /** The fallback poll, for a notification that was missed (LISTEN/NOTIFY does the waking). */
  pollIntervalMs?: number;
}

const CHANNEL = 'queue_messages';

// One statement, so the notification is sent only if the insert commits.
const PUBLISH_SQL = `
WITH inserted AS (
  INSERT INTO queue_messages (queue, body, priority, visible_at)
  SELECT $1, m.body, m.priority, now() + m.delay_ms * interval '1 millisecond'
  FROM unnest($2::text[], $3::smallint[], $4::integer[]) AS m(body, priority, delay_ms)
  RETURNING 1
)
SELECT pg_notify('${CHANNEL}', $1) FROM (SELECT count(*) AS n FROM inserted) AS c WHERE c.n > 0`;

// Also deletes the messages the consumer finished since its last claim ($4): one round trip instead of two.
const CLAIM_SQL = `
WITH done AS (
  DELETE FROM queue_messages WHERE id = ANY($4::bigint[])
),
next AS (
  SELECT id FROM queue_messages
  WHERE queue = $1 AND visible_at <= now()
  ORDER BY priority DESC, id
  LIMIT $2
  FOR UPDATE SKIP LOCKED
)
UPDATE queue_messages AS m
SET visible_at = now() + $3 * interval '1 millisecond', receive_count = m.receive_count + 1
FROM next
WHERE m.id = next.id
RETURNING m.id::text AS id, m.body, m.priority, m.receive_count`;

interface ClaimedRow {
  id: string;
  body: string;
  priority: number;
  receive_count: number;
}

/** The table operations behind the adapter; kept out of the exported class so that no driver type shows. */
class Store {
  readonly pool: pg.Pool;

  constructor(
    private readonly connectionString: string,
    readonly visibilityTimeoutMs: number,
    readonly retryDelayMs: number,
    readonly pollIntervalMs: number,
    pool: { max: number; connectionTimeoutMs: number; statementTimeoutMs: number },
  ) {
    this.pool = new pg.Pool({
      connectionString,
      max: pool.max,
      connectionTimeoutMillis: pool.connectionTimeoutMs,
      idleTimeoutMillis: 30_000,
      statement_timeout: pool.statementTimeoutMs,
      application_name: 'async-task-service:queue',
      allowExitOnIdle: true,
    });
    // An idle client that loses its server emits here; without a listener the process would crash.
    this.pool.on('error', () => {});
  }

  /** Claims up to `limit` visible messages, acknowledging (deleting) `acked` in the same statement. */
  async claim(name: string, limit: number, acked: string[] = []): Promise<ReceivedMessage[]> {
    const { rows } = await this.pool.query<ClaimedRow>(CLAIM_SQL, [name, limit, this.visibilityTimeoutMs, acked]);
    return rows
      .map((r) => ({ id: r.id, body: r.body, priority: r.priority, receiveCount: r.receive_count }))
      .sort((a, b) => b.priority - a.priority || Number(BigInt(a.id) - BigInt(b.id)));
  }

  /** Milliseconds until the next hidden message of a queue becomes visible (undefined when the queue is empty). */
  async nextVisibleInMs(name: string): Promise<number | undefined> {
    const { rows } = await this.pool.query<{ ms: number | null }>(
      'SELECT (extract(epoch FROM min(visible_at) - now()) * 1000)::float8 AS ms FROM queue_messages WHERE queue = $1',
      [name],
    );
    const ms = rows[0]?.ms;
    return ms === null || ms === undefined ? undefined : Math.max(0, ms);
  }

  async ack(ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.pool.query('DELETE FROM queue_messages WHERE id = ANY($1::bigint[])', [ids]);
  }

  async retry(ids: string[]): Promise<void> {
    await this.hide(ids, this.retryDelayMs);
  }

  async extend(ids: string[]): Promise<void> {
    await this.hide(ids, this.visibilityTimeoutMs);
  }

  /** Hands back messages that were claimed but never given to a handler, as if never received. */
  async release(ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.pool.query(
      'UPDATE queue_messages SET visible_at = now(), receive_count = greatest(receive_count - 1, 0) WHERE id = ANY($1::bigint[])',
      [ids],
    );
  }

  private async hide(ids: string[], ms: number): Promise<void> {
    if (ids.length === 0) return;
    await this.pool.query("UPDATE queue_messages SET visible_at = now() + $2 * interval '1 millisecond' WHERE id = ANY($1::bigint[])", [
      ids,
      ms,
    ]);
  }

  /** A connection of its own for LISTEN, outside the pool. */
  listenerClient(): pg.Client {
    return new pg.Client({
      connectionString: this.connectionString,
      connectionTimeoutMillis: 5_000,
      application_name: 'async-task-service:queue-listener',
    });
  }
}

/** The embedded queue: rows of `queue_messages`, claimed with FOR UPDATE SKIP LOCKED and woken by LISTEN/NOTIFY. */
export class PostgresQueue implements Queue {
  readonly driver = 'postgres' as const;
  private readonly store: Store;
  private readonly consumers = new Consumers();

  constructor(private readonly options: PostgresQueueOptions) {
    this.store = new Store(
      options.connectionString,
      options.visibilityTimeoutMs ?? 30_000,
      options.retryDelayMs ?? 1_000,
      options.pollIntervalMs ?? 2_000,
      { max: options.poolMax, connectionTimeoutMs: options.publishTimeoutMs, statementTimeoutMs: options.statementTimeoutMs },
    );
  }

  private name(queue: AnyQueueName): string {
    return this.options.namespace ? `${this.options.namespace}.${queue}` : queue;
  }

  async publish(queue: AnyQueueName, messages: OutgoingMessage[]): Promise<void> {
    if (messages.length === 0) return;
    const bodies = messages.map((m) => m.body);
    const priorities = messages.map((m) => clampPriority(m.priority));
    const delays = messages.map((m) => Math.max(0, Math.round(m.delayMs ?? 0)));
    await withTimeout(
      this.store.pool.query(PUBLISH_SQL, [this.name(queue), bodies, priorities, delays]),
      this.options.publishTimeoutMs,
      'publish to the embedded queue',
    );
  }

  async consume(queue: AnyQueueName, handler: MessageBatchHandler, options: ConsumeOptions): Promise<Consumer> {
    return this.consumers.start(new PostgresConsumer(this.store, this.name(queue)), handler, options);
  }

  async depth(queue: AnyQueueName): Promise<number> {
    // Waiting means ready or delayed; a message received at least once and still hidden is in flight.
    const { rows } = await this.store.pool.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM queue_messages WHERE queue = $1 AND (visible_at <= now() OR receive_count = 0)',
      [this.name(queue)],
    );
    return rows[0]?.n ?? 0;
  }

  async purge(queue: AnyQueueName): Promise<void> {
    await this.store.pool.query('DELETE FROM queue_messages WHERE queue = $1', [this.name(queue)]);
  }

  async check(): Promise<void> {
    await withTimeout(this.store.pool.query('SELECT 1'), this.options.publishTimeoutMs, 'embedded queue check');
  }

  async close(): Promise<void> {
    await this.consumers.stopAll();
    await this.store.pool.end();
  }
}

/** The embedded queue's part of a consumer: claims woken by LISTEN/NOTIFY (with a fallback poll), acks by delete. */
class PostgresConsumer implements ConsumerDriver<string> {
  private running = true;
  private readonly wakers = new Set<() => void>();
  /** Wake-ups so far: a consumer that was claiming when one came (nobody idle to hear it) claims again at once. */
  private wakeUps = 0;
  private listener: pg.Client | undefined;
  private listenerRetry: NodeJS.Timeout | undefined;
  private listenerAttempt = 0;
  /** Messages handled but not yet deleted: the next claim deletes them (they stay hidden until then). */
  private acked: string[] = [];
  readonly extendEveryMs: number;

  constructor(
    private readonly store: Store,
    private readonly name: string,
  ) {
    this.extendEveryMs = store.visibilityTimeoutMs / 3;
  }

  start(): Promise<void> {
    return this.listen();
  }

  async receive(max: number): Promise<Delivery<string>[]> {
    const wakeUps = this.wakeUps;
    const acked = this.acked.splice(0);
    let batch: ReceivedMessage[];
    try {
      batch = await this.store.claim(this.name, max, acked);
    } catch (err) {
      this.acked.push(...acked);
      throw err;
    }
    if (batch.length > 0) return batch.map((message) => ({ message, handle: message.id }));
    const { pollIntervalMs } = this.store;
    const next = await this.store.nextVisibleInMs(this.name).catch(() => undefined);
    // A message announced while this consumer was claiming would otherwise wait for the timer.
    if (this.wakeUps === wakeUps) await this.idle(Math.min(pollIntervalMs, next ?? pollIntervalMs));
    return [];
  }

  pause(): Promise<void> {
    return this.idle(this.store.pollIntervalMs);
  }

  async ack(ids: string[]): Promise<void> {
    this.acked.push(...ids);
    // Once stopping, no claim comes to carry them.
    if (!this.running) await this.flush();
  }

  retryLater(ids: string[]): Promise<void> {
    return this.settle(() => this.store.retry(ids));
  }

  release(ids: string[]): Promise<void> {
    return this.store.release(ids);
  }

  extend(ids: string[]): Promise<void> {
    return this.store.extend(ids);
  }

  async stopReceiving(): Promise<void> {
    this.running = false;
    this.wakeAll();
    clearTimeout(this.listenerRetry);
    const listener = this.listener;
    this.listener = undefined;
    await listener?.end().catch(() => {});
  }

  /** Deletes what was handled and not yet deleted; a batch that outlives the stop timeout deletes its own when it ends. */
  close(): Promise<void> {
    return this.flush();
  }

  private flush(): Promise<void> {
    const ids = this.acked.splice(0);
    return ids.length > 0 ? this.settle(() => this.store.ack(ids)) : Promise.resolve();
  }

  /** Waits out a short database blip; past that, the messages reappear after the visibility timeout. */
  private async settle(fn: () => Promise<unknown>): Promise<void> {
    await whileDatabaseIsAway(fn, this.store.visibilityTimeoutMs / 3).catch(() => {});
  }

  private wakeAll(): void {
    this.wakeUps += 1;
    for (const wake of [...this.wakers]) wake();
  }

  private idle(ms: number): Promise<void> {
    if (!this.running) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wakers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wakers.add(done);
    });
  }

  private async listen(): Promise<void> {
    if (!this.running) return;
    const client = this.store.listenerClient();
    client.on('error', () => {});
    client.on('notification', (n) => {
      if (n.payload === this.name) this.wakeAll();
    });
    client.on('end', () => {
      if (this.listener === client) {
        this.listener = undefined;
        this.scheduleListen();
      }
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANNEL}`);
    } catch {
      await client.end().catch(() => {});
      this.scheduleListen();
      return;
    }
    if (!this.running) {
      await client.end().catch(() => {});
      return;
    }
    this.listener = client;
    this.listenerAttempt = 0;
    // Anything published while the listener was away was not announced to it.
    this.wakeAll();
  }

  private scheduleListen(): void {
    if (!this.running || this.listenerRetry) return;
    this.listenerAttempt += 1;
    const delay = Math.min(5_000, 100 * 2 ** (this.listenerAttempt - 1));
    this.listenerRetry = setTimeout(() => {
      this.listenerRetry = undefined;
      void this.listen();
    }, delay);
  }
}
