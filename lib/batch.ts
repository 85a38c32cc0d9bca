export interface BatchOptions {
  /** Most items in one batch. */
  maxBatch?: number;
  /** Batches running at once: while they all run, new calls gather into the next one. */
  inFlight?: number;
}

/**
 * Group commit: turns a function over a list into a function over one item, so that calls made while batches
 * are running are served together by the next one. An idle caller runs at once, alone (no added wait); under
 * load, one statement or one publish serves many concurrent calls. `run` answers in the order of its items; when
 * it throws, every call of that batch rejects with its error.
 *
 * In a Lambda container (one invocation at a time) every batch has one item; in a long-lived process
 * (serverless-offline, a container) concurrent requests share round trips and commits.
 */
export function batched<I, O>(run: (items: I[]) => Promise<O[]>, options: BatchOptions = {}): (item: I) => Promise<O> {
  const { maxBatch = 100, inFlight = 1 } = options;
  let waiting: { item: I; resolve: (out: O) => void; reject: (err: unknown) => void }[] = [];
  let running = 0;

  async function worker(): Promise<void> {
    running++;
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
      if (running < inFlight) void worker();
    });
}
