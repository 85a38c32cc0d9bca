import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';

/** What every log line written on behalf of one request, or of one run of a task, carries. */
export interface RequestContext {
  request_id: string;
  task_id?: string;
  /** The route of a request (`GET /api/v1/tasks/{id}`). */
  route?: string;
}

// Async-local, not the logger's appended keys: serverless-offline runs concurrent invocations in one process, and the
// processor runs the messages of a batch together, so that keys set on the shared logger would be mixed up.
const storage = new AsyncLocalStorage<RequestContext>();

/** Runs `fn` with `context` as the context of everything it does, asynchronously too. */
export const withRequestContext = <T>(context: RequestContext, fn: () => T): T => storage.run(context, fn);

/** The context of the request or run being handled, if any. */
export const requestContext = (): RequestContext | undefined => storage.getStore();

/** Up to 128 printable ASCII characters (the contract's limit on a client's own X-Request-Id). */
const CLIENT_REQUEST_ID = /^[\x20-\x7e]{1,128}$/;

/** The client's own request id when it is acceptable, else a new UUID. */
export function requestIdFrom(clientValue: string | undefined): string {
  const value = clientValue?.trim();
  return value && CLIENT_REQUEST_ID.test(value) ? value : randomUUID();
}
