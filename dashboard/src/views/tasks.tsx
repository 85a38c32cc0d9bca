import { useEffect, useMemo, useState } from 'preact/hooks';
import { ApiError, api, type TaskFilters } from '../api';
import { PriorityBadge, Progress, StatusBadge } from '../components/badges';
import { StatusDonut, ThroughputChart, TypeBars } from '../components/charts';
import { PageHeader } from '../components/page';
import { formatSort, parseSort, type Sort, SortableTh, sortRows, TableWrap } from '../components/table';
import { toast } from '../components/toasts';
import { ago, dateTime, findUuid, plural, shortId, startsIn, statusLabel, timeOfDay } from '../format';
import { useDebounced, useNow, usePolling } from '../hooks';
import { linkProps, navigate, useLocation } from '../router';
import { canCancel, canRetry, PRIORITIES, STATUSES, type Stats, type TaskListItem, type TaskStatus } from '../types';
import { BulkDialog } from './bulk';
import { CreateTaskDialog } from './create-task';

const PAGE_SIZES = [20, 50, 100];
/** The most tasks "select all matching" takes (ten requests of 100). */
const MAX_SELECTION = 1_000;
const LIST_EVERY_MS = 2_000;
const STATS_EVERY_MS = 3_000;

interface ListState {
  status: TaskStatus[];
  priority: string;
  type: string;
  search: string;
  from: string;
  to: string;
  page: number;
  limit: number;
  /** A client-side sort of the page shown (the list API has one order: newest first). */
  sort: Sort | undefined;
}

const PRIORITY_RANK: Record<string, number> = Object.fromEntries(PRIORITIES.map((p, i) => [p, i]));
const STATUS_RANK: Record<string, number> = Object.fromEntries(STATUSES.map((s, i) => [s, i]));
/** What each sortable column sorts by. */
const SORT_BY: Record<string, (t: TaskListItem) => string | number | null> = {
  title: (t) => t.title.toLowerCase(),
  status: (t) => STATUS_RANK[t.status] ?? null,
  progress: (t) => t.progress,
  type: (t) => t.type,
  priority: (t) => PRIORITY_RANK[t.priority] ?? null,
  attempts: (t) => t.attempts,
  created: (t) => Date.parse(t.created_at),
};

function readState(q: URLSearchParams): ListState {
  const limit = Number(q.get('limit'));
  return {
    status: (q.get('status') ?? '').split(',').filter((s): s is TaskStatus => (STATUSES as readonly string[]).includes(s)),
    priority: q.get('priority') ?? '',
    type: q.get('type') ?? '',
    search: q.get('search') ?? '',
    from: q.get('from') ?? '',
    to: q.get('to') ?? '',
    page: Math.max(1, Number(q.get('page')) || 1),
    limit: PAGE_SIZES.includes(limit) ? limit : 20,
    sort: ((s) => (s && s.key in SORT_BY ? s : undefined))(parseSort(q.get('sort'))),
  };
}

function writeState(s: ListState): string {
  const q = new URLSearchParams();
  if (s.status.length) q.set('status', s.status.join(','));
  if (s.priority) q.set('priority', s.priority);
  if (s.type) q.set('type', s.type);
  if (s.search) q.set('search', s.search);
  if (s.from) q.set('from', s.from);
  if (s.to) q.set('to', s.to);
  if (s.page > 1) q.set('page', String(s.page));
  if (s.limit !== 20) q.set('limit', String(s.limit));
  if (s.sort) q.set('sort', formatSort(s.sort));
  const qs = q.toString();
  return qs ? `/?${qs}` : '/';
}

// datetime-local inputs give local times without a zone; the API wants ISO times.
const localToIso = (v: string): string | undefined => (v && !Number.isNaN(Date.parse(v)) ? new Date(v).toISOString() : undefined);

const toFilters = (s: ListState): TaskFilters => ({
  status: s.status,
  priority: s.priority || undefined,
  type: s.type || undefined,
  search: s.search || undefined,
  created_from: localToIso(s.from),
  created_to: localToIso(s.to),
});

export function TasksView({ live }: { live: boolean }) {
  const loc = useLocation();
  const state = readState(loc.query);
  const set = (patch: Partial<ListState>) => navigate(writeState({ ...state, page: 1, ...patch }), true);

  const stats = usePolling(() => api.stats(), [], STATS_EVERY_MS, live);
  const toggleStatus = (s: TaskStatus) =>
    set({ status: state.status.includes(s) ? state.status.filter((x) => x !== s) : [...state.status, s] });

  return (
    <div class="stack">
      <PageHeader title="Tasks" sub="Everything the service was asked to do, live." />
      <Overview stats={stats.data} error={stats.error} selected={state.status} onSelect={toggleStatus} />
      <TaskTable state={state} set={set} live={live} types={stats.data?.by_type.map((t) => t.type) ?? []} onChanged={stats.refresh} />
    </div>
  );
}

function Overview(props: { stats?: Stats; error?: Error; selected: TaskStatus[]; onSelect: (s: TaskStatus) => void }) {
  const { stats } = props;
  if (!stats) {
    return (
      <section class="card muted center">{props.error ? `Statistics unavailable: ${props.error.message}` : 'Loading statistics…'}</section>
    );
  }
  const lastHour = stats.throughput.reduce(
    (acc, p) => ({ created: acc.created + p.created, completed: acc.completed + p.completed, failed: acc.failed + p.failed }),
    { created: 0, completed: 0, failed: 0 },
  );
  return (
    <>
      <section class="status-cards" aria-label="Tasks by status">
        {STATUSES.map((s) => (
          <button
            type="button"
            key={s}
            class={`status-card status-${s} ${props.selected.includes(s) ? 'active' : ''}`}
            onClick={() => props.onSelect(s)}
            aria-pressed={props.selected.includes(s)}
            title={`Show only ${statusLabel(s).toLowerCase()} tasks (click again to remove the filter)`}
          >
            <span class="status-card-label">
              <span class="dot" />
              {statusLabel(s)}
            </span>
            <span class="status-card-count" data-testid={`count-${s}`}>
              {stats.by_status[s].toLocaleString()}
            </span>
            <span class="status-card-share">{stats.total ? `${Math.round((stats.by_status[s] / stats.total) * 100)}% of all` : '—'}</span>
          </button>
        ))}
        <div class="status-card queue-card" title={`Queue driver: ${stats.queue.driver}`}>
          <span class="status-card-label">Queue depth</span>
          <span class="status-card-count" data-testid="queue-depth">
            {stats.queue.depth === null ? '—' : stats.queue.depth.toLocaleString()}
          </span>
          <span class="queue-dlq">
            {stats.queue.dead_letters === null ? 'dead letters unknown' : plural(stats.queue.dead_letters, 'dead letter')}
          </span>
        </div>
      </section>
      <section class="charts">
        <div class="card chart-card">
          <div class="card-title">
            <h2>Throughput, last hour</h2>
            <span class="muted small">
              {lastHour.created} created · {lastHour.completed} completed · {lastHour.failed} failed
            </span>
          </div>
          <ThroughputChart points={stats.throughput} />
        </div>
        <div class="card chart-card">
          <div class="card-title">
            <h2>By status</h2>
          </div>
          <StatusDonut counts={stats.by_status} selected={props.selected} onSelect={props.onSelect} />
          <h3 class="subhead">By type</h3>
          <TypeBars types={stats.by_type} />
        </div>
      </section>
    </>
  );
}

function TaskTable(props: {
  state: ListState;
  set: (patch: Partial<ListState>) => void;
  live: boolean;
  types: string[];
  onChanged: () => Promise<void>;
}) {
  const { state, set } = props;
  const [searchText, setSearchText] = useState(state.search);
  const [creating, setCreating] = useState(false);
  const [selected, setSelected] = useState<Map<string, TaskListItem>>(new Map());
  const [bulk, setBulk] = useState<'cancel' | 'retry' | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const now = useNow();

  const debounced = useDebounced(searchText, 300);
  // Only a settled search text changes the URL.
  useEffect(() => {
    if (debounced !== state.search) set({ search: debounced });
  }, [debounced]);

  const filters = toFilters(state);
  const offset = (state.page - 1) * state.limit;
  const key = JSON.stringify([filters, state.limit, offset]);
  const list = usePolling(() => api.list(filters, state.limit, offset), [key], LIST_EVERY_MS, props.live);
  const page = list.data;
  const items = page?.items ?? [];
  const rows = useMemo(() => sortRows(items, state.sort, SORT_BY), [items, state.sort]);
  // A sort keeps the page and the filters: it orders what is shown.
  const sortBy = (sort: Sort | undefined) => navigate(writeState({ ...state, sort }), true);
  const pages = page ? Math.max(1, Math.ceil(page.total / state.limit)) : 1;

  // Rows selected before keep their latest state, so that the bulk actions know what they are acting on.
  const selectedNow = useMemo(() => {
    const m = new Map(selected);
    for (const t of items) if (m.has(t.id)) m.set(t.id, t);
    return m;
  }, [selected, items]);
  const allOnPage = items.length > 0 && items.every((t) => selected.has(t.id));
  const toggle = (t: TaskListItem) => {
    const m = new Map(selected);
    if (m.has(t.id)) m.delete(t.id);
    else m.set(t.id, t);
    setSelected(m);
  };
  const togglePage = () => {
    const m = new Map(selected);
    for (const t of items)
      if (allOnPage) m.delete(t.id);
      else m.set(t.id, t);
    setSelected(m);
  };
  const [selectingAll, setSelectingAll] = useState(false);
  const selectAllMatching = async () => {
    if (!page) return;
    setSelectingAll(true);
    try {
      const m = new Map(selected);
      for (let off = 0; off < Math.min(page.total, MAX_SELECTION); off += 100) {
        const chunk = await api.list(filters, 100, off);
        for (const t of chunk.items) m.set(t.id, t);
        if (chunk.items.length < 100) break;
      }
      setSelected(m);
    } catch (err) {
      toast('error', `Could not select the tasks: ${(err as Error).message}`);
    } finally {
      setSelectingAll(false);
    }
  };

  const act = async (t: TaskListItem, action: 'cancel' | 'retry') => {
    setBusy(t.id);
    try {
      const after = action === 'cancel' ? await api.cancel(t.id) : await api.retry(t.id);
      toast('ok', `${action === 'cancel' ? 'Cancelled' : 'Retrying'} “${after.title}”`);
    } catch (err) {
      toast('error', `${action === 'cancel' ? 'Cancel' : 'Retry'} refused: ${(err as Error).message}`);
    } finally {
      setBusy(null);
      await Promise.all([list.refresh(), props.onChanged()]);
    }
  };

  const filtered = state.status.length || state.priority || state.type || state.search || state.from || state.to;
  const uuidInSearch = findUuid(searchText);
  const types = [...new Set([...props.types, ...(state.type ? [state.type] : [])])];

  return (
    <section class="card table-card">
      <div class="toolbar">
        <div class="search">
          <input
            type="search"
            placeholder="Search title or description…"
            aria-label="Search title or description"
            value={searchText}
            onInput={(e) => setSearchText(e.currentTarget.value)}
          />
          {uuidInSearch && (
            <a class="search-hint" {...linkProps(`/tasks/${uuidInSearch}`)}>
              Open task {shortId(uuidInSearch)}… by id
            </a>
          )}
        </div>
        <button type="button" class="primary" onClick={() => setCreating(true)}>
          + New task
        </button>
      </div>
      <div class="filters">
        <fieldset class="chips">
          <legend class="sr-only">Status</legend>
          {STATUSES.map((s) => (
            <button
              type="button"
              key={s}
              class={`chip status-${s} ${state.status.includes(s) ? 'active' : ''}`}
              aria-pressed={state.status.includes(s)}
              onClick={() => set({ status: state.status.includes(s) ? state.status.filter((x) => x !== s) : [...state.status, s] })}
            >
              {statusLabel(s)}
            </button>
          ))}
        </fieldset>
        <label class="inline-field">
          <span>Priority</span>
          <select value={state.priority} onChange={(e) => set({ priority: e.currentTarget.value })} aria-label="Priority">
            <option value="">Any</option>
            {PRIORITIES.map((p) => (
              <option key={p} value={p}>
                {statusLabel(p)}
              </option>
            ))}
          </select>
        </label>
        <label class="inline-field">
          <span>Type</span>
          <select value={state.type} onChange={(e) => set({ type: e.currentTarget.value })} aria-label="Type">
            <option value="">Any</option>
            {types.map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
        </label>
        <div class="range">
          <span>Created</span>
          <input
            type="datetime-local"
            value={state.from}
            onChange={(e) => set({ from: e.currentTarget.value })}
            aria-label="Created from"
            title="Created at or after"
          />
          <span>–</span>
          <input
            type="datetime-local"
            value={state.to}
            onChange={(e) => set({ to: e.currentTarget.value })}
            aria-label="Created to"
            title="Created before"
          />
        </div>
        {filtered && (
          <button
            type="button"
            class="link-button"
            onClick={() => {
              setSearchText('');
              navigate('/', true);
            }}
          >
            Clear filters
          </button>
        )}
      </div>

      {selected.size > 0 && (
        <section class="bulkbar" aria-label="Selection">
          <strong>{plural(selected.size, 'task')} selected</strong>
          {page && allOnPage && page.total > items.length && selected.size < Math.min(page.total, MAX_SELECTION) && (
            <button type="button" class="link-button" onClick={selectAllMatching} disabled={selectingAll}>
              {selectingAll
                ? 'Selecting…'
                : page.total > MAX_SELECTION
                  ? `Select the first ${MAX_SELECTION.toLocaleString()} matching`
                  : `Select all ${page.total.toLocaleString()} matching`}
            </button>
          )}
          <span class="spacer" />
          <button type="button" onClick={() => setBulk('cancel')}>
            Cancel selected
          </button>
          <button type="button" onClick={() => setBulk('retry')}>
            Retry selected
          </button>
          <button type="button" class="ghost" onClick={() => setSelected(new Map())}>
            Clear selection
          </button>
        </section>
      )}

      <TableWrap label="Tasks">
        <table class="tasks">
          <thead>
            <tr>
              <th class="check">
                <input type="checkbox" checked={allOnPage} onChange={togglePage} aria-label="Select every task on this page" />
              </th>
              <SortableTh label="Task" column="title" sort={state.sort} onSort={sortBy} />
              <SortableTh label="Status" column="status" sort={state.sort} onSort={sortBy} />
              <SortableTh label="Progress" column="progress" sort={state.sort} onSort={sortBy} class="progress-col" />
              <SortableTh label="Type" column="type" sort={state.sort} onSort={sortBy} class="type-col" />
              <SortableTh label="Priority" column="priority" sort={state.sort} onSort={sortBy} />
              <SortableTh label="Attempts" column="attempts" sort={state.sort} onSort={sortBy} class="num attempts-col" />
              <SortableTh label="Created" column="created" sort={state.sort} onSort={sortBy} />
              <th class="actions-col">
                <span class="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {rows.map((t) => (
              <tr key={t.id} data-task-id={t.id} class={selected.has(t.id) ? 'selected' : ''}>
                <td class="check">
                  <input type="checkbox" checked={selected.has(t.id)} onChange={() => toggle(t)} aria-label={`Select ${t.title}`} />
                </td>
                <td class="task-cell">
                  <a class="task-title" {...linkProps(`/tasks/${t.id}`)}>
                    {t.title}
                  </a>
                  <div class="task-sub">
                    <code>{shortId(t.id)}</code>
                    {t.error && t.status === 'FAILED' ? (
                      <span class="task-error" title={t.error}>
                        {t.error}
                      </span>
                    ) : (
                      t.description && <span title={t.description}>{t.description}</span>
                    )}
                  </div>
                </td>
                <td>
                  <StatusBadge status={t.status} />
                  {t.run_at && (
                    <div class="muted small nowrap" title={`Run at ${dateTime(t.run_at)}`}>
                      {t.status === 'SCHEDULED' ? startsIn(t.run_at, now) : `run at ${timeOfDay(t.run_at)}`}
                    </div>
                  )}
                </td>
                <td class="progress-col">
                  <Progress value={t.progress} status={t.status} label={`Progress of ${t.title}`} />
                </td>
                <td class="type-col">
                  <span class="type">{t.type}</span>
                </td>
                <td>
                  <PriorityBadge priority={t.priority} />
                </td>
                <td class="num attempts-col">
                  {t.attempts}/{t.max_attempts}
                </td>
                <td class="nowrap" title={dateTime(t.created_at)}>
                  {ago(t.created_at, now)}
                </td>
                <td class="actions-col">
                  {canCancel(t.status) && (
                    <button type="button" class="small danger-ghost" disabled={busy === t.id} onClick={() => act(t, 'cancel')}>
                      Cancel
                    </button>
                  )}
                  {canRetry(t.status) && (
                    <button type="button" class="small" disabled={busy === t.id} onClick={() => act(t, 'retry')}>
                      Retry
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        {page && items.length === 0 && (
          <div class="empty">
            {filtered ? 'No task matches these filters.' : 'No tasks yet.'}{' '}
            {!filtered && (
              <button type="button" class="link-button" onClick={() => setCreating(true)}>
                Create the first one
              </button>
            )}
          </div>
        )}
        {!page && list.loading && <div class="empty">Loading…</div>}
        {list.error && (
          <div class="empty error-text" role="alert">
            {list.error instanceof ApiError && list.error.status === 422
              ? `The filters are not valid: ${list.error.errors.map((e) => `${e.path} ${e.message}`).join('; ')}`
              : `Could not load the tasks: ${list.error.message}`}
          </div>
        )}
      </TableWrap>

      <footer class="pager">
        <span class="muted" data-testid="pager-summary">
          {page && page.total > 0
            ? `${(offset + 1).toLocaleString()}–${(offset + items.length).toLocaleString()} of ${plural(page.total, 'task')}`
            : ''}
        </span>
        <span class="spacer" />
        <label class="inline-field">
          <span>Per page</span>
          <select value={state.limit} onChange={(e) => set({ limit: Number(e.currentTarget.value) })} aria-label="Tasks per page">
            {PAGE_SIZES.map((n) => (
              <option key={n} value={n}>
                {n}
              </option>
            ))}
          </select>
        </label>
        <button type="button" class="small" disabled={state.page <= 1} onClick={() => set({ page: state.page - 1 })}>
          ‹ Previous
        </button>
        <span class="muted">
          Page {state.page} of {pages}
        </span>
        <button type="button" class="small" disabled={state.page >= pages} onClick={() => set({ page: state.page + 1 })}>
          Next ›
        </button>
      </footer>

      {creating && (
        <CreateTaskDialog
          onClose={() => setCreating(false)}
          onCreated={async (t) => {
            setCreating(false);
            toast(
              'ok',
              <>
                Created “{t.title}” ({statusLabel(t.status)}). <a {...linkProps(`/tasks/${t.id}`)}>Open it</a>
              </>,
            );
            await Promise.all([list.refresh(), props.onChanged()]);
          }}
        />
      )}
      {bulk && (
        <BulkDialog
          action={bulk}
          tasks={[...selectedNow.values()]}
          onClose={async (done) => {
            setBulk(null);
            if (done) setSelected(new Map());
            await Promise.all([list.refresh(), props.onChanged()]);
          }}
        />
      )}
    </section>
  );
}
