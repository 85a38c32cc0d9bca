import { useEffect, useState } from 'preact/hooks';

// Vite's base, without the trailing slash: '/dashboard'.
const BASE = import.meta.env.BASE_URL.replace(/\/$/, '');

export interface Location {
  /** The path inside the dashboard: '/', '/tasks/<id>'. */
  path: string;
  query: URLSearchParams;
}

const current = (): Location => {
  const raw = window.location.pathname.startsWith(BASE) ? window.location.pathname.slice(BASE.length) : window.location.pathname;
  return { path: raw.replace(/\/+$/, '') || '/', query: new URLSearchParams(window.location.search) };
};

const listeners = new Set<() => void>();
window.addEventListener('popstate', () => {
  for (const l of listeners) l();
});

/** The full URL of a dashboard path ('/tasks/x' -> '/dashboard/tasks/x', '/?page=2' -> '/dashboard?page=2'). */
export const href = (path: string): string => `${BASE}${path === '/' || path.startsWith('/?') ? path.slice(1) : path}`;

/** Goes to a dashboard path; `replace` keeps the history entry (filters typed into a box). */
export function navigate(pathAndQuery: string, replace = false): void {
  const url = href(pathAndQuery);
  if (url === window.location.pathname + window.location.search) return;
  if (replace) window.history.replaceState(null, '', url);
  else window.history.pushState(null, '', url);
  for (const l of listeners) l();
  if (!replace) window.scrollTo(0, 0);
}

/** The current location, re-rendering on every change. */
export function useLocation(): Location {
  const [loc, setLoc] = useState(current);
  useEffect(() => {
    const update = () => setLoc(current());
    listeners.add(update);
    return () => listeners.delete(update);
  }, []);
  return loc;
}

/** An anchor that navigates inside the page (a plain link for a new tab or window). */
export function linkProps(path: string, before?: () => void) {
  return {
    href: href(path),
    onClick: (e: MouseEvent) => {
      if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
      e.preventDefault();
      before?.();
      navigate(path);
    },
  };
}
