import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import * as amqp from 'amqplib';
import { type ConsumerDriver, Consumers, type Delivery, pauseFor, type StopSignals } from '#lib/queue/consume-loop';
import { ChannelAcks } from '#lib/queue/rabbitmq-acks';
import {
  type AnyQueueName,
  type ConsumeOptions,
  type Consumer,
  clampPriority,
  consumeOptionsInRange,
  deadLetterQueueOf,
  type MessageBatchHandler,
  type OutgoingMessage,
  QUEUES,
  type Queue,
} from '#lib/queue/types';

export interface RabbitMqQueueOptions {
  url: string;
  /** Prefix of every queue name (`<namespace>.tasks`), so that test files and stages do not collide. */
  namespace?: string;
  /** Longest wait for the broker to confirm a publish, or to answer a check, a depth or a purge. */
  publishTimeoutMs: number;
  /** How long a failed message waits before it is delivered again (through a delay queue); 0 = at once. */
  retryDelayMs?: number;
  /** Unacknowledged messages per consumer; never more than its slots (the default). */
  prefetch?: number;
  /** Declares the queues with `x-expires`: the broker deletes them once unused that long (throwaway namespaces). */
  expiresMs?: number;
}

const MAX_PRIORITY = 10;
const RECEIVE_COUNT_HEADER = 'x-receive-count';
const BATCH_LINGER_MS = 5;
const CONNECT_TIMEOUT_MS = 5_000;
const HEARTBEAT_SECONDS = 10;
const MAX_RECONNECT_DELAY_MS = 3_000;

/*
 * Delays. RabbitMQ has no delayed delivery without a plugin, so a delayed message waits in a delay queue
 * with a per-message TTL and is dead-lettered back to its queue when that expires. A queue only expires
 * messages at its head, so one long delay would hold back every shorter one behind it; each queue
 * therefore has a few delay queues by order of magnitude (bounds below), and a message goes to the
 * smallest one whose bound covers its delay. Approximation: within one delay queue a message may wait
 * for the one ahead of it, so it is delivered after at least `delayMs` and at most about 4 x `delayMs`
 * (or 1 s for delays under 1 s). Delays are capped at 15 minutes, as on SQS.
 */
const DELAY_BOUNDS_MS = [1_000, 4_000, 16_000, 64_000, 256_000, 1_024_000] as const;
const MAX_DELAY_MS = 900_000;

const noop = () => {};

function delayQueueName(name: string, boundMs: number): string {
  return `${name}.delay-${boundMs / 1000}s`;
}

function delayQueueNames(name: string): string[] {
  return DELAY_BOUNDS_MS.map((bound) => delayQueueName(name, bound));
}

function delayBound(delayMs: number): number {
  return DELAY_BOUNDS_MS.find((b) => delayMs <= b) ?? MAX_DELAY_MS;
}

/** Rejects once the signal aborts. */
function untilAborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    const fail = () => reject(signal.reason);
    if (signal.aborted) fail();
    else signal.addEventListener('abort', fail, { once: true });
  });
}

interface Subscriber {
  onConnect(model: amqp.ChannelModel): void;
}

/** One AMQP connection that comes back by itself: reconnects with bounded backoff while anyone needs it. */
class Connection {
  private model: amqp.ChannelModel | undefined;
  private publisher: Promise<amqp.ConfirmChannel> | undefined;
  private readonly waiters = new Set<(model: amqp.ChannelModel) => void>();
  private readonly subscribers = new Set<Subscriber>();
  private readonly declared = new Set<string>();
  private reconnecting = false;
  private closed = false;
  private lastError: Error | undefined;

  constructor(
    private readonly url: string,
    private readonly connectionName: string,
    private readonly topology: (channel: amqp.Channel) => Promise<void>,
    readonly queueArguments: Record<string, unknown>,
  ) {}

  get current(): amqp.ChannelModel | undefined {
    return this.model;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** The open connection, waiting for a reconnect until the signal aborts. */
  get(signal: AbortSignal): Promise<amqp.ChannelModel> {
    if (this.closed) return Promise.reject(new Error('RabbitMQ connection is closed'));
    if (this.model) return Promise.resolve(this.model);
    return new Promise((resolve, reject) => {
      const waiter = (model: amqp.ChannelModel) => {
        signal.removeEventListener('abort', onAbort);
        resolve(model);
      };
      const onAbort = () => {
        this.waiters.delete(waiter);
        reject(new Error(`RabbitMQ is unreachable${this.lastError ? `: ${this.lastError.message}` : ''}`));
      };
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiters.add(waiter);
      void this.reconnect();
    });
  }

  /** The confirm channel shared by every publish on this connection. */
  async confirmChannel(signal: AbortSignal): Promise<amqp.ConfirmChannel> {
    const model = await this.get(signal);
    if (!this.publisher) {
      const opening = model.createConfirmChannel().then((channel) => {
        channel.on('error', noop);
        channel.on('close', () => {
          if (this.publisher === opening) this.publisher = undefined;
        });
        return channel;
      });
      opening.catch(() => {
        if (this.publisher === opening) this.publisher = undefined;
      });
      this.publisher = opening;
    }
    return this.publisher;
  }

  /** Runs `fn` on a short-lived channel of its own, so that a failed operation closes nothing else. */
  async withChannel<T>(signal: AbortSignal, fn: (channel: amqp.Channel) => Promise<T>): Promise<T> {
    const model = await this.get(signal);
    const channel = await model.createChannel();
    channel.on('error', noop);
    try {
      return await fn(channel);
    } finally {
      await channel.close().catch(noop);
    }
  }

  /** Declares a delay queue once per connection. */
  async declareDelayQueue(channel: amqp.Channel, name: string, target: string): Promise<void> {
    if (this.declared.has(name)) return;
    await channel.assertQueue(name, {
      durable: true,
      arguments: { ...this.queueArguments, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': target },
    });
    this.declared.add(name);
  }

  subscribe(subscriber: Subscriber): void {
    this.subscribers.add(subscriber);
    if (this.model) subscriber.onConnect(this.model);
    else void this.reconnect();
  }

  unsubscribe(subscriber: Subscriber): void {
    this.subscribers.delete(subscriber);
  }

  async close(): Promise<void> {
    this.closed = true;
    const model = this.model;
    this.model = undefined;
    await model?.close().catch(noop);
  }

  private async reconnect(): Promise<void> {
    if (this.reconnecting) return;
    this.reconnecting = true;
    let attempt = 0;
    try {
      while (!this.closed && !this.model && (this.waiters.size > 0 || this.subscribers.size > 0)) {
        try {
          await this.open();
          return;
        } catch (err) {
          this.lastError = err as Error;
          attempt += 1;
          const base = Math.min(MAX_RECONNECT_DELAY_MS, 100 * 2 ** (attempt - 1));
          await sleep(base / 2 + Math.random() * (base / 2));
        }
      }
    } finally {
      this.reconnecting = false;
    }
  }

  private async open(): Promise<void> {
    const url = new URL(this.url);
    if (!url.searchParams.has('heartbeat')) url.searchParams.set('heartbeat', String(HEARTBEAT_SECONDS));
    const model = await amqp.connect(url.toString(), {
      timeout: CONNECT_TIMEOUT_MS,
      clientProperties: { connection_name: this.connectionName },
    });
    let lost = false;
    model.on('error', noop);
    model.on('close', (err?: Error) => {
      lost = true;
      if (this.model !== model) return;
      this.model = undefined;
      this.publisher = undefined;
      this.declared.clear();
      this.lastError = err ?? new Error('connection closed');
      if (!this.closed) void this.reconnect();
    });
    try {
      const channel = await model.createChannel();
      await this.topology(channel);
      await channel.close();
    } catch (err) {
      await model.close().catch(noop);
      throw err;
    }
    if (lost) throw this.lastError ?? new Error('connection closed');
    if (this.closed) {
      await model.close().catch(noop);
      return;
    }
    this.model = model;
    this.lastError = undefined;
    for (const waiter of [...this.waiters]) waiter(model);
    this.waiters.clear();
    for (const subscriber of [...this.subscribers]) subscriber.onConnect(model);
  }
}

/** RabbitMQ: durable priority queues, persistent messages, publisher confirms, reconnects by itself. */
export class RabbitMqQueue implements Queue {
  readonly driver = 'rabbitmq' as const;
  private readonly connection: Connection;
  private readonly consumers = new Consumers();
  private readonly names: Map<AnyQueueName, string>;
  private readonly retryDelayMs: number;

  constructor(private readonly options: RabbitMqQueueOptions) {
    const prefix = options.namespace ? `${options.namespace}.` : '';
    const all: AnyQueueName[] = [...QUEUES, ...QUEUES.map(deadLetterQueueOf)];
    this.names = new Map(all.map((q) => [q, `${prefix}${q}`]));
    this.retryDelayMs = options.retryDelayMs ?? 1_000;
    const queueArguments: Record<string, unknown> = options.expiresMs ? { 'x-expires': options.expiresMs } : {};
    this.connection = new Connection(
      options.url,
      `async-task-service${options.namespace ? ` ${options.namespace}` : ''}`,
      async (channel) => {
        for (const name of this.names.values()) {
          await channel.assertQueue(name, {
            durable: true,
            arguments: { ...queueArguments, 'x-max-priority': MAX_PRIORITY },
          });
        }
      },
      queueArguments,
    );
  }

  private name(queue: AnyQueueName): string {
    const name = this.names.get(queue);
    if (!name) throw new Error(`Unknown queue: ${queue}`);
    return name;
  }

  async publish(queue: AnyQueueName, messages: OutgoingMessage[]): Promise<void> {
    if (messages.length === 0) return;
    const name = this.name(queue);
    await this.send(
      name,
      messages.map((m) => ({ body: Buffer.from(m.body), priority: clampPriority(m.priority), delayMs: m.delayMs ?? 0 })),
    );
  }

  /** Publishes on the confirm channel and resolves once the broker confirmed every message, or fails at the timeout. */
  private async send(
    name: string,
    messages: { body: Buffer; priority: number; delayMs: number; headers?: Record<string, unknown> }[],
  ): Promise<void> {
    const timeoutMs = this.options.publishTimeoutMs;
    const signal = AbortSignal.timeout(timeoutMs);
    let lastError: Error | undefined;
    const attempt = async () => {
      const channel = await this.connection.confirmChannel(signal);
      const confirms: Promise<void>[] = [];
      for (const m of messages) {
        const delayMs = Math.min(MAX_DELAY_MS, Math.max(0, Math.round(m.delayMs)));
        let target = name;
        const properties: amqp.Options.Publish = {
          persistent: true,
          priority: m.priority,
          messageId: randomUUID(),
          headers: m.headers ?? {},
        };
        if (delayMs > 0) {
          target = delayQueueName(name, delayBound(delayMs));
          await this.connection.declareDelayQueue(channel, target, name);
          properties.expiration = String(delayMs);
        }
        confirms.push(
          new Promise<void>((resolve, reject) => {
            try {
              channel.sendToQueue(target, m.body, properties, (err) =>
                err ? reject(err instanceof Error ? err : new Error('RabbitMQ refused the message')) : resolve(),
              );
            } catch (err) {
              reject(err);
            }
          }),
        );
      }
      await Promise.all(confirms);
    };
    // A connection that just dropped fails the confirms; the next connection gets another try within the time limit.
    // A retry may duplicate a message whose confirm was lost: delivery is at least once.
    const failure = () =>
      new Error(`RabbitMQ publish to ${name} failed within ${timeoutMs} ms${lastError ? `: ${lastError.message}` : ''}`, {
        cause: lastError,
      });
    const work = async () => {
      for (;;) {
        try {
          return await attempt();
        } catch (err) {
          lastError = err as Error;
          if (signal.aborted || this.connection.isClosed) throw failure();
          await sleep(50);
        }
      }
    };
    await Promise.race([work(), untilAborted(signal).catch(() => Promise.reject(failure()))]);
  }

  /** Sends a failed message back to its queue (after the retry delay) with its receive count raised. */
  private async redeliver(name: string, message: amqp.Message, receiveCount: number): Promise<void> {
    // The broker's own dead-letter history (`x-death`, from the delay queue) is not part of the message.
    const headers = Object.fromEntries(
      Object.entries(message.properties.headers ?? {}).filter(([key]) => !/^x-(death|first-death|last-death)/.test(key)),
    );
    await this.send(name, [
      {
        body: message.content,
        priority: message.properties.priority ?? 0,
        delayMs: this.retryDelayMs,
        headers: { ...headers, [RECEIVE_COUNT_HEADER]: receiveCount },
      },
    ]);
  }

  async consume(queue: AnyQueueName, handler: MessageBatchHandler, options: ConsumeOptions): Promise<Consumer> {
    // No read-ahead beyond the slots: the broker pushes a message only when a slot has freed, so that a HIGH
    // message published later is the next one taken, not stuck behind LOW ones sitting in this consumer's buffer.
    const { slots } = consumeOptionsInRange(options);
    const prefetch = Math.min(this.options.prefetch ?? slots, slots);
    const name = this.name(queue);
    const driver = new RabbitConsumer(this.connection, name, prefetch, (message, receiveCount) =>
      this.redeliver(name, message, receiveCount),
    );
    return this.consumers.start(driver, handler, options);
  }

  async depth(queue: AnyQueueName): Promise<number> {
    const name = this.name(queue);
    return this.manage(`depth of ${name}`, async (signal) => {
      const counts = await Promise.all(
        [name, ...delayQueueNames(name)].map((q) => this.ifExists(signal, async (ch) => (await ch.checkQueue(q)).messageCount)),
      );
      return counts.reduce<number>((sum, n) => sum + (n ?? 0), 0);
    });
  }

  async purge(queue: AnyQueueName): Promise<void> {
    const name = this.name(queue);
    await this.manage(`purge of ${name}`, (signal) =>
      Promise.all([name, ...delayQueueNames(name)].map((q) => this.ifExists(signal, (ch) => ch.purgeQueue(q)))),
    );
  }

  async check(): Promise<void> {
    const name = this.name('tasks');
    await this.manage('check', (signal) => this.connection.withChannel(signal, (ch) => ch.checkQueue(name)));
  }

  async close(): Promise<void> {
    await this.consumers.stopAll();
    await this.connection.close();
  }

  /** Runs `op` on a queue; undefined when the queue does not exist (delay queues are declared on first use). */
  private async ifExists<T>(signal: AbortSignal, op: (ch: amqp.Channel) => Promise<T>): Promise<T | undefined> {
    try {
      return await this.connection.withChannel(signal, op);
    } catch (err) {
      // The broker answers NOT_FOUND by closing the channel with code 404.
      if ((err as { code?: unknown }).code === 404) return undefined;
      throw err;
    }
  }

  /** Runs a management operation within the publish timeout, naming it in the error. */
  private async manage<T>(what: string, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const timeoutMs = this.options.publishTimeoutMs;
    const signal = AbortSignal.timeout(timeoutMs);
    try {
      return await Promise.race([fn(signal), untilAborted(signal)]);
    } catch (err) {
      const reason = signal.aborted ? `no answer within ${timeoutMs} ms` : (err as Error).message;
      throw new Error(`RabbitMQ ${what} failed: ${reason}`, { cause: err });
    }
  }
}

/** A message the broker pushed to this consumer, and when. */
interface Pushed {
  message: amqp.ConsumeMessage;
  channel: amqp.Channel;
  /** How the message is settled: its channel's acknowledgements. */
  acks: ChannelAcks;
  at: number;
}

/** A pushed message handed to the consumer, with the receive count it was handed over with. */
interface Taken extends Pushed {
  receiveCount: number;
}

/**
 * RabbitMQ's part of a consumer: a subscription (again after every reconnect) whose deliveries wait in a buffer,
 * bounded by the prefetch (the consumer's slots), until the consumer takes them. A failed message is published again after the retry delay,
 * with its receive count raised, and the original acknowledged.
 */
class RabbitConsumer implements ConsumerDriver<Taken>, Subscriber {
  private channel: amqp.Channel | undefined;
  /** The acknowledgements of `channel`. */
  private acks: ChannelAcks | undefined;
  private consumerTag: string | undefined;
  private subscribing = false;
  private resubscribeTimer: NodeJS.Timeout | undefined;
  private buffer: Pushed[] = [];
  /** Receives waiting for a delivery. */
  private readonly waiting = new Set<() => void>();
  private stopped = false;
  private sequence = 0;

  constructor(
    private readonly connection: Connection,
    private readonly name: string,
    private readonly prefetch: number,
    private readonly redeliver: (message: amqp.Message, receiveCount: number) => Promise<void>,
  ) {}

  start(): void {
    this.connection.subscribe(this);
  }

  onConnect(model: amqp.ChannelModel): void {
    void this.subscribe(model);
  }

  async receive(max: number, { stopping }: StopSignals): Promise<Delivery<Taken>[]> {
    while (!stopping.aborted && !this.stopped) {
      const first = this.buffer[0];
      if (!first) {
        await this.nextDelivery(stopping);
        continue;
      }
      const waited = Date.now() - first.at;
      if (this.buffer.length >= max || waited >= BATCH_LINGER_MS) return this.take(max);
      // Wait a few milliseconds for the rest of a batch the broker is still sending.
      await this.nextDelivery(stopping, BATCH_LINGER_MS - waited);
    }
    return [];
  }

  /** Receiving only waits on the buffer, which does not fail: no broker to wait for here. */
  pause(_failures: number, { stopping }: StopSignals): Promise<void> {
    return pauseFor(1_000, stopping);
  }

  async ack(taken: Taken[]): Promise<void> {
    // Settled once the frames are sent: a stop closes the channel only after the batches in hand are settled.
    await Promise.all(taken.map((t) => this.ackOne(t)));
  }

  async retryLater(taken: Taken[]): Promise<void> {
    await Promise.all(
      taken.map(async (t) => {
        try {
          await this.redeliver(t.message, t.receiveCount + 1);
          await this.ackOne(t);
        } catch {
          this.nackOne(t);
        }
      }),
    );
  }

  async release(taken: Taken[]): Promise<void> {
    for (const t of taken) this.nackOne(t);
  }

  async stopReceiving(): Promise<void> {
    this.stopped = true;
    this.connection.unsubscribe(this);
    clearTimeout(this.resubscribeTimer);
    this.wakeWaiting();
    const channel = this.channel;
    if (channel && this.consumerTag) await channel.cancel(this.consumerTag).catch(noop);
    for (const d of this.buffer.splice(0)) this.nackOne(d);
  }

  async close(): Promise<void> {
    const channel = this.channel;
    this.channel = undefined;
    // The acknowledgements of batches that ended in this turn go out first (a stop may time out in the turn a batch ends).
    this.acks?.settleNow();
    this.acks = undefined;
    // Closing the channel gives back whatever is still unacknowledged.
    await channel?.close().catch(noop);
  }

  /** Takes up to `max` buffered deliveries, counting their receives. */
  private take(max: number): Delivery<Taken>[] {
    return this.buffer.splice(0, max).map((pushed) => {
      const { message } = pushed;
      const header = Number(message.properties.headers?.[RECEIVE_COUNT_HEADER]);
      const previous = Number.isInteger(header) && header > 0 ? header : 1;
      // Classic queues do not count deliveries: the header carries our count, `redelivered` adds an unacknowledged one.
      const receiveCount = previous + (message.fields.redelivered ? 1 : 0);
      return {
        message: {
          id: `${++this.sequence}`,
          body: message.content.toString('utf8'),
          priority: message.properties.priority ?? 0,
          receiveCount,
        },
        handle: { ...pushed, receiveCount },
      };
    });
  }

  /** Resolves at the next delivery, after `ms` if given, or when the signal aborts. */
  private nextDelivery(signal: AbortSignal, ms?: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiting.delete(done);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = ms === undefined ? undefined : setTimeout(done, ms);
      this.waiting.add(done);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  private wakeWaiting(): void {
    for (const wake of [...this.waiting]) wake();
  }

  private async subscribe(model: amqp.ChannelModel): Promise<void> {
    if (this.stopped || this.subscribing || this.channel) return;
    this.subscribing = true;
    let channel: amqp.Channel | undefined;
    try {
      channel = await model.createChannel();
      const ch = channel;
      ch.on('error', noop);
      ch.on('close', () => this.onChannelClosed(ch));
      await ch.prefetch(this.prefetch);
      this.channel = ch;
      const acks = new ChannelAcks(ch);
      this.acks = acks;
      const { consumerTag } = await ch.consume(this.name, (message) => {
        // null: the broker cancelled the consumer (the queue was deleted); closing the channel re-subscribes.
        if (message === null) ch.close().catch(noop);
        else this.onDelivery(ch, acks, message);
      });
      this.consumerTag = consumerTag;
      if (this.stopped) {
        // Stopped while subscribing: whatever arrived meanwhile was handed back on arrival.
        this.channel = undefined;
        await ch.close().catch(noop);
      }
    } catch {
      if (channel && this.channel === channel) this.channel = undefined;
      await channel?.close().catch(noop);
      this.resubscribeLater();
    } finally {
      this.subscribing = false;
    }
  }

  private onChannelClosed(channel: amqp.Channel): void {
    // Unacknowledged deliveries of a closed channel go back to the queue on the broker's side.
    this.buffer = this.buffer.filter((d) => d.channel !== channel);
    if (this.channel !== channel) return;
    this.channel = undefined;
    this.acks = undefined;
    this.consumerTag = undefined;
    this.resubscribeLater();
  }

  private resubscribeLater(): void {
    if (this.stopped || this.resubscribeTimer) return;
    this.resubscribeTimer = setTimeout(() => {
      this.resubscribeTimer = undefined;
      // While the connection is down, the next connect subscribes again.
      const model = this.connection.current;
      if (model) void this.subscribe(model);
    }, 200);
  }

  private onDelivery(channel: amqp.Channel, acks: ChannelAcks, message: amqp.ConsumeMessage): void {
    acks.delivered(message);
    const pushed = { message, channel, acks, at: Date.now() };
    if (this.stopped) {
      this.nackOne(pushed);
      return;
    }
    this.buffer.push(pushed);
    this.wakeWaiting();
  }

  private ackOne(d: Pushed): Promise<void> {
    return d.acks.ack(d.message);
  }

  private nackOne(d: Pushed): void {
    d.acks.nack(d.message);
  }
}
