export interface BatchOptions {
  /** Most items in one batch. */
  maxBatch?: number;
  /** Batches running at once: while they all run, new calls gather into the next one. */
  inFlight?: number;
}

/**
 * Group commit: turns a function over a list into a function over one item, so that the calls made in one turn
 * of the event loop, or while batches are running, are served together by the next batch. An idle caller waits
 * only for the end of the current turn; under load, one statement or one publish serves many concurrent calls.
 * `run` answers in the order of its items; when it throws, every call of that batch rejects with its error.
 *
 * In a Lambda container (one invocation at a time) every batch has one item; in a long-lived process
 * (serverless-offline, a container) concurrent requests share round trips and commits.
 */
export function batched<I, O>(run: (items: I[]) => Promise<O[]>, options: BatchOptions = {}): (item: I) => Promise<O> {
  const { maxBatch = 100, inFlight = 1 } = options;
  let waiting: { item: I; resolve: (out: O) => void; reject: (err: unknown) => void }[] = [];
  /** Batches running, or about to start. */
  let running = 0;
  /** A batch will start at the end of this turn and take every call made until then. */
  let scheduled = false;

  async function worker(): Promise<void> {
    while (waiting.length > 0) {
      const batch = waiting.slice(0, maxBatch);
      waiting = waiting.slice(batch.length);
      try {
        const out = await run(batch.map((w) => w.item));
        for (const [i, w] of batch.entries()) w.resolve(out[i] as O);
      } catch (err) {
        for (const w of batch) w.reject(err);
      }
    }
    running--;
  }

  return (item) =>
    new Promise<O>((resolve, reject) => {
      waiting.push({ item, resolve, reject });
      if (!scheduled && running < inFlight) {
        scheduled = true;
        running++;
        setImmediate(() => {
          scheduled = false;
          void worker();
        });
      }
    });
}
