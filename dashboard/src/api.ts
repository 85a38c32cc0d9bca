import type { BulkActionResult, Stats, Task, TaskEvent, TaskListItem, TaskTypeList } from './types';

const KEY_STORAGE = 'task-service.api-key';

/** A problem+json answer (or a network failure, status 0) from the API. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly errors: Array<{ path: string; message: string }> = [],
  ) {
    super(message);
  }
}

export const apiKey = {
  get: (): string => localStorage.getItem(KEY_STORAGE) ?? '',
  set: (key: string) => (key ? localStorage.setItem(KEY_STORAGE, key) : localStorage.removeItem(KEY_STORAGE)),
};

type Listener = () => void;
const unauthorizedListeners = new Set<Listener>();

/** Called whenever the API answers 401: the page then asks for a key. */
export function onUnauthorized(listener: Listener): () => void {
  unauthorizedListeners.add(listener);
  return () => unauthorizedListeners.delete(listener);
}

async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  const key = apiKey.get();
  if (key) headers['x-api-key'] = key;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError(0, 'The service did not answer; is it running?');
  }
  const text = await res.text();
  const data = text ? safeJson(text) : undefined;
  if (!res.ok) {
    if (res.status === 401) for (const l of unauthorizedListeners) l();
    const problem = (data ?? {}) as { detail?: string; title?: string; errors?: Array<{ path: string; message: string }> };
    throw new ApiError(res.status, problem.detail ?? problem.title ?? `HTTP ${res.status}`, problem.errors ?? []);
  }
  return data as T;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export interface TaskFilters {
  status?: string[];
  priority?: string;
  type?: string;
  search?: string;
  created_from?: string;
  created_to?: string;
}

export interface TaskPage {
  /** Without large payloads and results (`payload_omitted`, `result_omitted`): `get` has the whole task. */
  items: TaskListItem[];
  total: number;
  limit: number;
  offset: number;
}

export interface NewTask {
  type: string;
  title: string;
  description?: string | null;
  priority: string;
  payload: Record<string, unknown>;
  max_attempts?: number;
  timeout_ms?: number;
}

const BASE = '/api/v1';

export const api = {
  list(filters: TaskFilters, limit: number, offset: number): Promise<TaskPage> {
    const q = new URLSearchParams();
    if (filters.status?.length) q.set('status', filters.status.join(','));
    for (const k of ['priority', 'type', 'search', 'created_from', 'created_to'] as const) {
      const v = filters[k];
      if (v) q.set(k, v);
    }
    q.set('limit', String(limit));
    q.set('offset', String(offset));
    return call('GET', `${BASE}/tasks?${q}`);
  },
  get: (id: string): Promise<Task> => call('GET', `${BASE}/tasks/${encodeURIComponent(id)}`),
  events: (id: string): Promise<{ items: TaskEvent[] }> => call('GET', `${BASE}/tasks/${encodeURIComponent(id)}/events`),
  create: (task: NewTask): Promise<Task> => call('POST', `${BASE}/tasks`, task),
  cancel: (id: string): Promise<Task> => call('DELETE', `${BASE}/tasks/${encodeURIComponent(id)}`),
  retry: (id: string): Promise<Task> => call('POST', `${BASE}/tasks/${encodeURIComponent(id)}/retry`),
  bulk: (action: 'cancel' | 'retry', ids: string[]): Promise<BulkActionResult> => call('POST', `${BASE}/tasks/bulk`, { action, ids }),
  stats: (): Promise<Stats> => call('GET', `${BASE}/stats`),
  taskTypes: (): Promise<TaskTypeList> => call('GET', `${BASE}/task-types`),
};
