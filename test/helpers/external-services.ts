import http from 'node:http';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import { createRequestHandler } from 'local-aws-sqs';
import { config } from '#lib/config';
import { redact } from '#local/pg-admin';

// The services outside this project that tests talk to: whether RabbitMQ (or any server) is reachable, an in-process
// SQS, and a TCP proxy to cut a service's clients off.

const DEFAULT_PORTS: Record<string, number> = { 'amqp:': 5672, 'amqps:': 5671, 'postgres:': 5432, 'postgresql:': 5432 };

/** Whether something accepts TCP connections at the host and port of `url` within `timeoutMs`. */
export function isReachable(url: string, timeoutMs = 1_000): Promise<boolean> {
  const u = new URL(url);
  const port = Number(u.port) || DEFAULT_PORTS[u.protocol] || 80;
  return new Promise((resolve) => {
    const socket = net.connect({ host: u.hostname, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * For `describe.runIf(await requireService(...))`: true when the service is reachable; false (the suite
 * is skipped) on a developer's machine; throws in CI, where a test that needs a service must fail, not skip.
 */
export async function requireService(name: string, url: string): Promise<boolean> {
  if (await isReachable(url)) return true;
  const message = `${name} at ${redact(url)} is not reachable`;
  if (process.env.CI === 'true') throw new Error(`${message}; it is required in CI`);
  console.warn(`${message}: skipping the tests that need it`);
  return false;
}

/** RabbitMQ at RABBITMQ_URL, as `requireService` does it. */
export function requireRabbitMq(): Promise<boolean> {
  return requireService('RabbitMQ', config().RABBITMQ_URL);
}

export interface LocalSqs {
  endpoint: string;
  close(): Promise<void>;
}

/**
 * An in-process SQS (local-aws-sqs) on a random port. One deviation of local-aws-sqs 2.0.2 from AWS is
 * corrected here: it counts a ChangeMessageVisibility as a receive in ApproximateReceiveCount, so the
 * count is lowered by the number of visibility changes made to that message. Another is left as it is: its
 * ApproximateNumberOfMessages also counts messages received and not yet deleted (AWS counts only visible ones), so
 * a test waits for a queue to empty after its consumer has done its work rather than expecting it at once.
 */
export async function startLocalSqs(): Promise<LocalSqs> {
  const visibilityChanges = new Map<string, number>();
  const messageOfHandle = new Map<string, string>();
  let handle: ReturnType<typeof createRequestHandler>['requestHandler'] | undefined;

  const server = http.createServer((req, res) => {
    const action = String(req.headers['x-amz-target'] ?? '').split('.')[1];
    if (action === 'ChangeMessageVisibility' || action === 'ChangeMessageVisibilityBatch') {
      // local-aws-sqs reads the body with its own 'data' listeners; this one sees the same chunks.
      let body = '';
      req.on('data', (chunk: Buffer) => {
        body += chunk.toString('utf8');
      });
      req.on('end', () => {
        const input = JSON.parse(body || '{}') as { ReceiptHandle?: string; Entries?: { ReceiptHandle?: string }[] };
        const handles = input.Entries?.map((e) => e.ReceiptHandle) ?? [input.ReceiptHandle];
        for (const h of handles) {
          const id = h && messageOfHandle.get(h);
          if (id) visibilityChanges.set(id, (visibilityChanges.get(id) ?? 0) + 1);
        }
      });
    }
    if (action === 'ReceiveMessage') {
      const end = res.end.bind(res) as (chunk?: unknown) => http.ServerResponse;
      res.end = ((chunk?: unknown) => {
        if (typeof chunk !== 'string' && !Buffer.isBuffer(chunk)) return end(chunk);
        const output = JSON.parse(chunk.toString()) as {
          Messages?: { MessageId: string; ReceiptHandle: string; Attributes?: Record<string, string> }[];
        };
        for (const m of output.Messages ?? []) {
          messageOfHandle.set(m.ReceiptHandle, m.MessageId);
          const count = m.Attributes?.ApproximateReceiveCount;
          if (count)
            m.Attributes = { ...m.Attributes, ApproximateReceiveCount: String(Number(count) - (visibilityChanges.get(m.MessageId) ?? 0)) };
        }
        if (!res.headersSent) res.removeHeader('content-length');
        return end(JSON.stringify(output));
      }) as typeof res.end;
    }
    if (handle) void handle(req, res);
    else res.writeHead(503).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  handle = createRequestHandler({ port, hostname: '127.0.0.1', emulateQueueCreationLifecycle: false }).requestHandler;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface TcpProxy {
  /** A URL like `target` that goes through the proxy. */
  url: string;
  /** Drops every open connection, as a broker restart does. */
  dropConnections(): void;
  /** Refuses connections (and drops the open ones) until `resume`. */
  pause(): Promise<void>;
  resume(): Promise<void>;
  close(): Promise<void>;
}

/** A TCP proxy in front of a service, to cut its clients off without touching the shared server. */
export async function startTcpProxy(target: string): Promise<TcpProxy> {
  const t = new URL(target);
  const targetPort = Number(t.port) || DEFAULT_PORTS[t.protocol] || 80;
  const sockets = new Set<net.Socket>();
  const track = (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => s.destroy());
  };
  const onConnection = (client: net.Socket) => {
    const upstream = net.connect({ host: t.hostname, port: targetPort });
    track(client);
    track(upstream);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
  };
  let server = net.createServer(onConnection);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const dropConnections = () => {
    for (const s of sockets) s.destroy();
  };
  const listening = () => server.listening;
  const url = new URL(target);
  url.hostname = '127.0.0.1';
  url.port = String(port);
  return {
    url: url.toString(),
    dropConnections,
    async pause() {
      if (!listening()) return;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      dropConnections();
      await closed;
    },
    async resume() {
      if (listening()) return;
      server = net.createServer(onConnection);
      await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    },
    async close() {
      dropConnections();
      if (listening()) await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
