import type * as amqp from 'amqplib';

/**
 * The acknowledgements of one channel's deliveries, in as few frames as the broker's rules allow. amqplib sends
 * each `ack` as a frame and a socket write of its own, which made acknowledging a large part of the cost of a
 * message for the consumer and the broker alike. A `basic.ack` with `multiple` settles every delivery of the channel
 * still unsettled up to its tag, so it is sent only for a run of deliveries that are all to be acknowledged, starting
 * at the oldest one still unsettled; the others are acknowledged one by one. An acknowledgement waits for the end of
 * the current turn of the event loop (the messages of a batch, and of batches that end together, are settled in one
 * turn) and no longer: an unacknowledged message holds a prefetch slot, and its broker would deliver it again if the
 * channel closed.
 */
export class ChannelAcks {
  /** Deliveries not settled yet, in the order of their tags (the order the broker delivered them). */
  private readonly unsettled = new Map<number, amqp.Message>();
  /** Tags to acknowledge at the end of the turn. */
  private readonly acking = new Set<number>();
  /** The end of the turn's acknowledgements, once some are waiting. */
  private sending: Promise<void> | undefined;

  constructor(private readonly channel: amqp.Channel) {}

  /** Records a delivery: from now on it is acknowledged or handed back through this object. */
  delivered(message: amqp.Message): void {
    this.unsettled.set(message.fields.deliveryTag, message);
  }

  /** Acknowledges a delivery at the end of the turn; resolves once its frame is sent. */
  ack(message: amqp.Message): Promise<void> {
    const tag = message.fields.deliveryTag;
    if (!this.unsettled.has(tag)) return Promise.resolve();
    this.acking.add(tag);
    this.sending ??= new Promise((resolve) =>
      setImmediate(() => {
        this.sending = undefined;
        this.flush();
        resolve();
      }),
    );
    return this.sending;
  }

  /** Hands a delivery back to its queue at once. */
  nack(message: amqp.Message): void {
    const tag = message.fields.deliveryTag;
    this.unsettled.delete(tag);
    this.acking.delete(tag);
    try {
      this.channel.nack(message, false, true);
    } catch {
      // The channel is gone: the broker has put the message back already.
    }
  }

  /** Sends the acknowledgements waiting for the end of the turn now: before their channel closes. */
  settleNow(): void {
    if (this.acking.size > 0) this.flush();
  }

  /** Sends the acknowledgements of the turn: one frame for the run from the oldest unsettled delivery, one for each other. */
  private flush(): void {
    let last: amqp.Message | undefined;
    let run = 0;
    for (const [tag, message] of this.unsettled) {
      if (!this.acking.has(tag)) break;
      this.unsettled.delete(tag);
      this.acking.delete(tag);
      last = message;
      run += 1;
    }
    const others: amqp.Message[] = [];
    for (const tag of this.acking) {
      others.push(this.unsettled.get(tag) as amqp.Message);
      this.unsettled.delete(tag);
    }
    this.acking.clear();
    try {
      if (last) this.channel.ack(last, run > 1);
      for (const message of others) this.channel.ack(message);
    } catch {
      // The channel is gone: the broker has put its unacknowledged messages back already.
    }
  }
}
