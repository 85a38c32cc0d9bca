import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';

export interface Toast {
  id: number;
  kind: 'ok' | 'error' | 'info';
  message: ComponentChildren;
}

let nextId = 1;
const listeners = new Set<(t: Toast[]) => void>();
let toasts: Toast[] = [];

const publish = () => {
  for (const l of listeners) l(toasts);
};

/** Shows a short message in the corner for a few seconds. */
export function toast(kind: Toast['kind'], message: ComponentChildren, ms = 5_000): void {
  const t = { id: nextId++, kind, message };
  toasts = [...toasts, t].slice(-4);
  publish();
  window.setTimeout(() => {
    toasts = toasts.filter((x) => x.id !== t.id);
    publish();
  }, ms);
}

export function Toasts() {
  const [list, setList] = useState<Toast[]>(toasts);
  useEffect(() => {
    listeners.add(setList);
    return () => listeners.delete(setList);
  }, []);
  return (
    <div class="toasts" aria-live="polite">
      {list.map((t) => (
        <div key={t.id} class={`toast toast-${t.kind}`} role="status">
          {t.message}
        </div>
      ))}
    </div>
  );
}
