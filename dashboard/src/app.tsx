import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError, type ApiHealth, api, apiHealth, apiKey, onUnauthorized } from './api';
import { Modal } from './components/modal';
import { Toasts } from './components/toasts';
import { findUuid } from './format';
import { usePageVisible } from './hooks';
import { linkProps, navigate, useLocation } from './router';
import { DeadLettersView } from './views/dead-letters';
import { SchedulesView } from './views/schedules';
import { TaskPage } from './views/task-page';
import { TaskTypesView } from './views/task-types';
import { TasksView } from './views/tasks';

/** What a page of the nav is given. */
export interface PageProps {
  live: boolean;
}

/**
 * The pages of the nav, in its order: a new page is one entry here (its path, its label, its view). A task's own page
 * (/tasks/<id>) is reached from the list and find-by-id, not from the nav.
 */
const PAGES: Array<{ path: string; label: string; view: (props: PageProps) => JSX.Element }> = [
  { path: '/', label: 'Tasks', view: TasksView },
  { path: '/schedules', label: 'Schedules', view: SchedulesView },
  { path: '/dead-letters', label: 'Dead letters', view: DeadLettersView },
  { path: '/task-types', label: 'Task types', view: TaskTypesView },
];

/** The outcome of the latest API call, re-rendering when it changes. */
function useApiHealth(): ApiHealth {
  const [health, setHealth] = useState(apiHealth.get);
  useEffect(() => apiHealth.subscribe(setHealth), []);
  return health;
}

export function App() {
  const loc = useLocation();
  const [live, setLive] = useState(true);
  const health = useApiHealth();
  const [askKey, setAskKey] = useState(false);
  // Bumped when the API key changes, so that every view loads again with it.
  const [session, setSession] = useState(0);
  const shown = usePageVisible();

  useEffect(() => onUnauthorized(() => setAskKey(true)), []);

  const taskId = /^\/tasks\/([^/]+)$/.exec(loc.path)?.[1];
  const page = PAGES.find((p) => p.path === loc.path);
  let view = <NotFound />;
  if (page) view = <page.view key={`${session}:${page.path}`} live={live} />;
  else if (taskId) view = <TaskPage key={`${session}:${taskId}`} id={decodeURIComponent(taskId)} live={live} />;

  // A failed call shows whatever the pause: the badge is how a person learns that what they see is stale.
  const liveState = !health.ok ? 'error' : !live ? 'paused' : shown ? 'live' : 'idle';
  const liveLabel = !health.ok ? (health.status === 0 ? 'Offline' : 'Error') : live ? 'Live' : 'Paused';
  const liveTitle = !health.ok
    ? `${health.message}; the data shown may be out of date. ${live ? 'Still trying every few seconds.' : 'Click to resume live updates.'}`
    : live
      ? 'Updates every 2 s while this tab is shown; click to pause'
      : 'Click to resume live updates';
  return (
    <>
      <header class="topbar">
        <div class="topbar-inner">
          <a class="brand" {...linkProps('/')}>
            <svg viewBox="0 0 32 32" width="26" height="26" aria-hidden="true">
              <rect width="32" height="32" rx="8" fill="#4f46e5" />
              <path d="M9 11h14M9 16h9M9 21h11" stroke="#fff" stroke-width="2.6" stroke-linecap="round" />
              <circle cx="23" cy="21" r="2.4" fill="#a5f3fc" />
            </svg>
            <span>Task Service</span>
          </a>
          <nav class="nav" aria-label="Pages">
            {PAGES.map((p) => (
              <a
                key={p.path}
                {...linkProps(p.path)}
                class={loc.path === p.path ? 'active' : ''}
                aria-current={loc.path === p.path ? 'page' : undefined}
              >
                {p.label}
              </a>
            ))}
            <a href="/docs" target="_blank" rel="noreferrer">
              API docs
            </a>
          </nav>
          <FindById />
          <button type="button" class={`live live-${liveState}`} onClick={() => setLive(!live)} title={liveTitle} data-testid="live">
            <span class="live-dot" />
            {liveLabel}
          </button>
          <span class="sr-only" role="status">
            {health.ok ? '' : health.message}
          </span>
          <button type="button" class="ghost small" onClick={() => setAskKey(true)} title="The key sent in the x-api-key header">
            {apiKey.get() ? 'API key ✓' : 'API key'}
          </button>
        </div>
      </header>
      <main class="page">{view}</main>
      {askKey && (
        <ApiKeyDialog
          onClose={() => setAskKey(false)}
          onSaved={() => {
            setAskKey(false);
            setSession((n) => n + 1);
          }}
        />
      )}
      <Toasts />
    </>
  );
}

function FindById() {
  const [text, setText] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const go = async (e: Event) => {
    e.preventDefault();
    const id = findUuid(text);
    if (!id) {
      setError('Paste a whole task id (a UUID)');
      return;
    }
    setBusy(true);
    try {
      await api.get(id);
      setText('');
      setError('');
      navigate(`/tasks/${id}`);
    } catch (err) {
      setError(err instanceof ApiError && err.status === 404 ? 'No task has this id' : (err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="find" onSubmit={go}>
      <input
        type="search"
        aria-label="Find a task by id"
        placeholder="Find a task by id…"
        value={text}
        onInput={(e) => {
          setText(e.currentTarget.value);
          setError('');
        }}
        spellcheck={false}
      />
      <button type="submit" class="small" disabled={busy || !text.trim()}>
        Go
      </button>
      {error && (
        <div class="find-error" role="alert">
          {error}
        </div>
      )}
    </form>
  );
}

function ApiKeyDialog({ onClose, onSaved }: { onClose: () => void; onSaved: () => void }) {
  const [key, setKey] = useState(apiKey.get());
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const save = async (e: Event) => {
    e.preventDefault();
    const before = apiKey.get();
    apiKey.set(key.trim());
    setBusy(true);
    try {
      await api.stats();
      onSaved();
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) {
        apiKey.set(before);
        setError(err.message);
      } else onSaved();
    } finally {
      setBusy(false);
    }
  };
  return (
    <Modal title="API key" onClose={onClose}>
      <form onSubmit={save} class="form">
        <p class="muted">
          This service asks for an API key (<code>x-api-key</code>). It is kept in this browser only.
        </p>
        <label class="field">
          <span>Key</span>
          <input
            type="password"
            value={key}
            autocomplete="off"
            onInput={(e) => {
              setKey(e.currentTarget.value);
              setError('');
            }}
            aria-label="API key"
          />
        </label>
        {error && <p class="form-error">{error}</p>}
        <div class="form-actions">
          {apiKey.get() && (
            <button
              type="button"
              class="ghost"
              onClick={() => {
                apiKey.set('');
                onSaved();
              }}
            >
              Forget the key
            </button>
          )}
          <button type="submit" class="primary" disabled={busy}>
            Save
          </button>
        </div>
      </form>
    </Modal>
  );
}

function NotFound() {
  return (
    <div class="card empty">
      <h2>Nothing here</h2>
      <p>
        <a {...linkProps('/')}>Back to the tasks</a>
      </p>
    </div>
  );
}
