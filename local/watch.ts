import { watch } from 'chokidar';

export interface WatchOptions {
  /** Folders watched, with everything under them. */
  dirs: readonly string[];
  /** Quiet time after the last change before `onChange` runs: an editor's save or a `git checkout` is many events. */
  debounceMs?: number;
  /** The files whose changes count: source files, not editors' swap, backup and temporary files. */
  only?: RegExp;
}

const SOURCE_FILES = /\.(ts|tsx|js|cjs|mjs|json)$/;

/**
 * Calls `onChange` (with the files that changed) once a burst of changes under `dirs` has settled, never twice at
 * once: changes made while it runs lead to one more call after it (chokidar: Node 20's recursive fs.watch on Linux
 * loses a file that an editor replaces on save). Returns a function that stops watching.
 */
export function watchForChanges(onChange: (files: string[]) => Promise<void>, o: WatchOptions): (() => void) & { ready: Promise<void> } {
  const debounceMs = o.debounceMs ?? 300;
  const only = o.only ?? SOURCE_FILES;
  const changed = new Set<string>();
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let closed = false;

  const run = () => {
    timer = undefined;
    if (closed || changed.size === 0) return;
    if (running) return; // Called again when the run ends.
    const files = [...changed];
    changed.clear();
    running = onChange(files)
      .catch(() => {})
      .finally(() => {
        running = undefined;
        if (changed.size > 0) timer ??= setTimeout(run, debounceMs);
      });
  };

  const watcher = watch([...o.dirs], { ignoreInitial: true });
  watcher.on('all', (_event, file) => {
    if (closed || !only.test(file)) return;
    changed.add(file);
    clearTimeout(timer);
    timer = setTimeout(run, debounceMs);
  });
  const ready = new Promise<void>((resolve) => watcher.once('ready', () => resolve()));
  return Object.assign(
    () => {
      closed = true;
      clearTimeout(timer);
      void watcher.close();
    },
    { ready },
  );
}
