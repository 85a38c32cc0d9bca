import {
  type ConsumeOptions,
  type Consumer,
  consumeOptionsInRange,
  DEFAULT_STOP_TIMEOUT_MS,
  type MessageBatchHandler,
  type ReceivedMessage,
} from '#lib/queue/types';
import { settleWithin } from '#lib/time';

/*
 * The consumer of every driver, in slots: it holds at most `slots` messages, receives only as many as it has free
 * slots (so a broker keeps the rest, in priority order, until a slot frees), hands them to the handler in batches
 * of up to `batchSize` that run side by side, settles each batch's messages (acknowledged, or delivered again later)
 * when its handler answers, and frees their slots then: no batch waits for another. A stop ends the wait for new
 * messages at once, hands back what arrives meanwhile, and waits for the batches in hand up to a timeout.
 * A driver provides only what talks to its broker (ConsumerDriver).
 */

/** A message as a driver received it: what the handler sees, and the driver's own handle on it. */
export interface Delivery<H> {
  message: ReceivedMessage;
  handle: H;
}

/** How a driver learns that its consumer stops. */
export interface StopSignals {
  /** Aborts when the consumer is told to stop: a wait for new messages ends at once. */
  stopping: AbortSignal;
  /** Aborts once the stop timeout has passed: a request still in progress gives up. */
  abandoned: AbortSignal;
}

/**
 * The broker's part of a consumer. A failure to settle a message (ack, retryLater, release, extend) is the
 * driver's to mind or to let be: the loop ignores it, and every broker delivers such a message again at some
 * point (after its visibility timeout, or when its channel closes).
 */
export interface ConsumerDriver<H> {
  /** Called once, before the consumer starts receiving. */
  start?(signals: StopSignals): void | Promise<void>;
  /**
   * Up to `max` messages (a driver may give fewer), waiting for them a while; none when nothing came meanwhile
   * (the consumer then asks again).
   * Ends its wait when `signals.stopping` aborts; throws when the broker cannot be asked.
   */
  receive(max: number, signals: StopSignals): Promise<Delivery<H>[]>;
  /** The wait after `failures` failed receives in a row, before the next one; ends early when `stopping` aborts. */
  pause(failures: number, signals: StopSignals): Promise<void>;
  /** Messages handled: not to be delivered again. */
  ack(handles: H[]): Promise<void>;
  /** Messages the handler failed: to be delivered again after the retry delay, with their receive count raised. */
  retryLater(handles: H[]): Promise<void>;
  /** Messages received but never handed to the handler (the consumer was stopping): given back for someone else. */
  release(handles: H[]): Promise<void>;
  /** Keeps the messages of a running batch from being delivered elsewhere; called every `extendEveryMs`. */
  extend?(handles: H[]): Promise<void>;
  readonly extendEveryMs?: number;
  /** Called once when the stop begins: stop taking messages, hand back what is buffered. */
  stopReceiving?(): Promise<void>;
  /** Called once the batches in hand are done (or the stop timeout passed). */
  close?(): Promise<void>;
}

const noop = () => {};

/** Waits `ms`, or less if the signal aborts first; never rejects. */
export function pauseFor(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

class ConsumeLoop<H> implements Consumer {
  private readonly stopping = new AbortController();
  private readonly abandoned = new AbortController();
  private readonly signals: StopSignals = { stopping: this.stopping.signal, abandoned: this.abandoned.signal };
  private readonly slots: number;
  private readonly batchSize: number;
  /** Messages received and not yet settled. */
  private inHand = 0;
  private readonly batches = new Set<Promise<void>>();
  private slotFreed: (() => void) | undefined;
  private receiving: Promise<void> = Promise.resolve();
  private stopped: Promise<void> | undefined;

  constructor(
    private readonly driver: ConsumerDriver<H>,
    private readonly handler: MessageBatchHandler,
    options: ConsumeOptions,
    private readonly onStopped: () => void,
  ) {
    ({ slots: this.slots, batchSize: this.batchSize } = consumeOptionsInRange(options));
  }

  async start(): Promise<void> {
    await this.driver.start?.(this.signals);
    if (this.signals.stopping.aborted) return;
    this.receiving = this.receive();
  }

  stop(timeoutMs = DEFAULT_STOP_TIMEOUT_MS): Promise<void> {
    this.stopped ??= this.shutdown(timeoutMs);
    return this.stopped;
  }

  private async shutdown(timeoutMs: number): Promise<void> {
    this.stopping.abort();
    this.slotFreed?.();
    await this.driver.stopReceiving?.().catch(noop);
    const timer = setTimeout(() => this.abandoned.abort(), timeoutMs);
    // A batch still running after the timeout is left to finish unheard; its driver settles it when it does.
    const inHand = async () => {
      await this.receiving;
      await Promise.allSettled([...this.batches]);
    };
    await settleWithin(inHand(), timeoutMs);
    clearTimeout(timer);
    await this.driver.close?.().catch(noop);
    this.onStopped();
  }

  /** Receives as many messages as there are free slots, whenever there are, and starts their batches at once. */
  private async receive(): Promise<void> {
    const { driver, signals } = this;
    let failures = 0;
    while (!signals.stopping.aborted) {
      const free = this.slots - this.inHand;
      if (free <= 0) {
        await new Promise<void>((resolve) => {
          this.slotFreed = resolve;
        });
        this.slotFreed = undefined;
        continue;
      }
      let received: Delivery<H>[];
      try {
        received = await driver.receive(free, signals);
        failures = 0;
      } catch {
        if (signals.stopping.aborted) break;
        failures += 1;
        await driver.pause(failures, signals);
        continue;
      }
      if (signals.stopping.aborted) {
        if (received.length > 0) await driver.release(received.map((d) => d.handle)).catch(noop);
        break;
      }
      for (let i = 0; i < received.length; i += this.batchSize) this.run(received.slice(i, i + this.batchSize));
    }
  }

  /** Runs a batch in its slots, freeing them once its messages are settled. */
  private run(batch: Delivery<H>[]): void {
    this.inHand += batch.length;
    const running: Promise<void> = this.handle(batch).finally(() => {
      this.inHand -= batch.length;
      this.batches.delete(running);
      this.slotFreed?.();
    });
    this.batches.add(running);
  }

  /** Hands a batch to the handler, then acknowledges what succeeded and schedules the rest again. */
  private async handle(batch: Delivery<H>[]): Promise<void> {
    const { driver } = this;
    const handles = batch.map((d) => d.handle);
    const renew =
      driver.extend && driver.extendEveryMs
        ? setInterval(() => {
            driver.extend?.(handles).catch(noop);
          }, driver.extendEveryMs)
        : undefined;
    let failed: Set<string>;
    try {
      const outcome = await this.handler(batch.map((d) => d.message));
      failed = new Set(outcome.failedIds);
    } catch {
      failed = new Set(batch.map((d) => d.message.id));
    } finally {
      clearInterval(renew);
    }
    const done = batch.filter((d) => !failed.has(d.message.id)).map((d) => d.handle);
    const again = batch.filter((d) => failed.has(d.message.id)).map((d) => d.handle);
    await Promise.all([done.length > 0 && driver.ack(done).catch(noop), again.length > 0 && driver.retryLater(again).catch(noop)]);
  }
}

/** The consumers of one queue client, so that closing the client stops them all. */
export class Consumers {
  private readonly running = new Set<Consumer>();

  /** Starts a consumer on a driver; it leaves this set once stopped. */
  async start<H>(driver: ConsumerDriver<H>, handler: MessageBatchHandler, options: ConsumeOptions): Promise<Consumer> {
    const consumer: ConsumeLoop<H> = new ConsumeLoop(driver, handler, options, () => this.running.delete(consumer));
    this.running.add(consumer);
    await consumer.start();
    return consumer;
  }

  /** Stops every consumer, each waiting for its batches in hand (up to the default stop timeout). */
  async stopAll(): Promise<void> {
    await Promise.all([...this.running].map((c) => c.stop()));
  }
}
