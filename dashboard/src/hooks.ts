import { useCallback, useEffect, useRef, useState } from 'preact/hooks';

const visible = () => document.visibilityState === 'visible';

/** Whether the tab is shown; live updates stop while it is not. */
export function usePageVisible(): boolean {
  const [shown, setShown] = useState(visible);
  useEffect(() => {
    const update = () => setShown(visible());
    document.addEventListener('visibilitychange', update);
    return () => document.removeEventListener('visibilitychange', update);
  }, []);
  return shown;
}

export interface Polled<T> {
  data: T | undefined;
  error: Error | undefined;
  loading: boolean;
  /** Time of the last answer, ms. */
  updatedAt: number | undefined;
  refresh: () => Promise<void>;
}

/**
 * Loads `load()` now, whenever `deps` change, and again every `intervalMs` while `live` and the tab is shown.
 * An answer that arrives after the inputs changed is dropped, so a slow request never overwrites a newer one.
 */
export function usePolling<T>(load: () => Promise<T>, deps: unknown[], intervalMs: number, live = true): Polled<T> {
  const [state, setState] = useState<{ data?: T; error?: Error; loading: boolean; updatedAt?: number }>({ loading: true });
  const generation = useRef(0);
  // Requests are numbered so that an answer older than one already shown is dropped (a poll that was under way
  // when an action refreshed the data must not put the old state back).
  const sent = useRef(0);
  const shownSeq = useRef(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  const shown = usePageVisible();

  const refresh = useCallback(async () => {
    const mine = generation.current;
    const seq = ++sent.current;
    const current = () => mine === generation.current && seq > shownSeq.current;
    try {
      const data = await loadRef.current();
      if (!current()) return;
      shownSeq.current = seq;
      setState({ data, loading: false, updatedAt: Date.now() });
    } catch (err) {
      if (!current()) return;
      shownSeq.current = seq;
      setState((s) => ({ ...s, error: err as Error, loading: false }));
    }
  }, []);

  // The caller's deps decide when to load afresh.
  useEffect(() => {
    generation.current++;
    setState((s) => ({ ...s, loading: true, error: undefined }));
    void refresh();
  }, deps);

  const wasActive = useRef(true);
  useEffect(() => {
    const active = live && shown;
    const resumed = active && !wasActive.current;
    wasActive.current = active;
    if (!active) return;
    // Catch up at once when the tab comes back or updates are resumed.
    if (resumed) void refresh();
    let timer: number | undefined;
    let stopped = false;
    const tick = async () => {
      await refresh();
      if (!stopped) timer = window.setTimeout(tick, intervalMs);
    };
    timer = window.setTimeout(tick, intervalMs);
    return () => {
      stopped = true;
      window.clearTimeout(timer);
    };
  }, [live, shown, intervalMs, refresh]);

  return { data: state.data, error: state.error, loading: state.loading, updatedAt: state.updatedAt, refresh };
}

/** `value`, once it has stopped changing for `ms`. */
export function useDebounced<T>(value: T, ms: number): T {
  const [settled, setSettled] = useState(value);
  useEffect(() => {
    const t = window.setTimeout(() => setSettled(value), ms);
    return () => window.clearTimeout(t);
  }, [value, ms]);
  return settled;
}

/** A clock that ticks every `ms`, so that relative times ("5 s ago") stay true between answers. */
export function useNow(ms = 1_000): number {
  const [now, setNow] = useState(Date.now);
  useEffect(() => {
    const t = window.setInterval(() => setNow(Date.now()), ms);
    return () => window.clearInterval(t);
  }, [ms]);
  return now;
}
