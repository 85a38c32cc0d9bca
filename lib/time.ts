/** Waits for `promise` to settle, or `ms` at most; the timer is cleared either way, so it keeps nothing alive. */
export async function settleWithin(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  try {
    await Promise.race([
      promise.then(
        () => undefined,
        () => undefined,
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Settles as `promise` does, or rejects with "<what> timed out after <ms> ms"; the timer is cleared either way. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Calls `check` every `everyMs` until it answers true; throws "<what> did not happen within <ms> ms" after `timeoutMs`. */
export async function waitUntil(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000, everyMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

/** The callbacks of each cadence, and the one timer that calls them. */
const ticks = new Map<number, { callbacks: Set<() => void>; timer: NodeJS.Timeout }>();

/**
 * Calls `callback` every `everyMs` until the returned function is called. Every callback of one cadence runs on
 * the same timer, in the same turn: the statements they start meet in one group commit (lib/group-commit.ts), so
 * that the runs going on in a process share one statement a tick rather than one each at their own times.
 */
export function onTick(everyMs: number, callback: () => void): () => void {
  let tick = ticks.get(everyMs);
  if (!tick) {
    const callbacks = new Set<() => void>();
    const timer = setInterval(() => {
      for (const call of callbacks) call();
    }, everyMs);
    tick = { callbacks, timer };
    ticks.set(everyMs, tick);
  }
  const { callbacks, timer } = tick;
  callbacks.add(callback);
  return () => {
    if (!callbacks.delete(callback) || callbacks.size > 0) return;
    clearInterval(timer);
    ticks.delete(everyMs);
  };
}
