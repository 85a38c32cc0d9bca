import { readFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { waitUntil } from '#lib/time';
import { request, useService } from '../helpers/offline';

/** The addresses a TCP port is listening on on this machine, from /proc/net/tcp and /proc/net/tcp6. */
function listeningAddresses(port: number): string[] {
  const found: string[] = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const [, local, , state] = line.trim().split(/\s+/);
      if (state !== '0A' || !local) continue; // 0A: LISTEN
      const [hex, portHex] = local.split(':') as [string, string];
      if (Number.parseInt(portHex, 16) !== port) continue;
      // The kernel prints each 32-bit word of the address in host (little-endian) byte order.
      const bytes = (hex.match(/.{8}/g) ?? []).flatMap((word) => (word.match(/../g) ?? []).reverse().map((b) => Number.parseInt(b, 16)));
      if (bytes.length === 4) found.push(bytes.join('.'));
      else if (bytes.every((b) => b === 0)) found.push('::');
      else if (bytes.slice(0, 15).every((b) => b === 0) && bytes[15] === 1) found.push('::1');
      else if (bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff)
        found.push(`::ffff:${bytes.slice(12).join('.')}`);
      else found.push(bytes.map((b) => b.toString(16).padStart(2, '0')).join(''));
    }
  }
  return found;
}

/** Whether a TCP connection to host:port is accepted. */
function connects(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port, timeout: 3_000 });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

/** The CORS headers of an answer. */
const corsHeaders = (headers: Headers) => Object.fromEntries([...headers].filter(([name]) => name.startsWith('access-control-')));

/** A CORS preflight as a browser sends it before a cross-origin DELETE with an API key. */
const preflight = (baseUrl: string, path: string, origin: string) =>
  fetch(`${baseUrl}${path}`, {
    method: 'OPTIONS',
    headers: { origin, 'access-control-request-method': 'DELETE', 'access-control-request-headers': 'x-api-key' },
  });

const portOf = (url: string) => Number(new URL(url).port);

describe('serverless-offline with HTTP_HOST=0.0.0.0 and no CORS_ORIGINS', () => {
  const svc = useService({ env: { HTTP_HOST: '0.0.0.0' }, bridge: true });

  it('binds the HTTP port on every interface and the Lambda invoke port on loopback only', async () => {
    expect(listeningAddresses(portOf(svc.baseUrl))).toEqual(expect.arrayContaining([expect.stringMatching(/^(0\.0\.0\.0|::)$/)]));
    expect(listeningAddresses(portOf(svc.lambdaUrl))).toEqual(['127.0.0.1']);
    // And from an address of this machine that is not loopback, where there is one.
    const outside = Object.values(os.networkInterfaces())
      .flat()
      .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
    if (outside) {
      expect(await connects(outside, portOf(svc.baseUrl))).toBe(true);
      expect(await connects(outside, portOf(svc.lambdaUrl))).toBe(false);
    }
  });

  it('still runs tasks through the bridge, which invokes the functions on the loopback Lambda port', async () => {
    const created = await request(svc.baseUrl, 'POST', '/api/v1/tasks', { title: 'bridged', payload: { duration_ms: 0, failure_rate: 0 } });
    expect(created.status).toBe(201);
    await waitUntil(
      'the task completes',
      async () => (await request(svc.baseUrl, 'GET', `/api/v1/tasks/${created.body.id}/status`)).body.status === 'COMPLETED',
      30_000,
      100,
    );
  });

  it('answers no origin with CORS headers, on a preflight or on an answer', async () => {
    const { body: task } = await request(svc.baseUrl, 'POST', '/api/v1/tasks', { title: 'not for other sites' });
    for (const origin of ['https://evil.example', 'null']) {
      for (const path of ['/api/v1/tasks', `/api/v1/tasks/${task.id}`]) {
        const pre = await preflight(svc.baseUrl, path, origin);
        await pre.arrayBuffer();
        expect(corsHeaders(pre.headers), `OPTIONS ${path} from ${origin}`).toEqual({});
      }
      const list = await fetch(`${svc.baseUrl}/api/v1/tasks`, { headers: { origin } });
      await list.arrayBuffer();
      expect(list.status).toBe(200);
      expect(corsHeaders(list.headers), `GET from ${origin}`).toEqual({});
    }
    const cancel = await fetch(`${svc.baseUrl}/api/v1/tasks/${task.id}`, { method: 'DELETE', headers: { origin: 'https://evil.example' } });
    await cancel.arrayBuffer();
    expect(corsHeaders(cancel.headers)).toEqual({});
  });

  it('answers a body that is not valid UTF-8 with a 400 instead of storing U+FFFD', async () => {
    // {"title":"<C3 28>"}: 0xC3 starts a two-byte sequence that 0x28 cannot continue.
    const body = Buffer.concat([Buffer.from('{"title":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]);
    const res = await fetch(`${svc.baseUrl}/api/v1/tasks`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    expect(((await res.json()) as { detail: string }).detail).toBe('The request body is not valid UTF-8');
    // Valid UTF-8 beyond ASCII still arrives as sent.
    const fine = await request(svc.baseUrl, 'POST', '/api/v1/tasks', { title: 'Größe 日本 😀' });
    expect(fine.status).toBe(201);
    expect(fine.body.title).toBe('Größe 日本 😀');
  });

  it("serves the benchmark's no-op route on the local stage", async () => {
    expect((await request(svc.baseUrl, 'POST', '/bench/ping', {})).status).toBe(200);
  });
});

describe('serverless-offline with CORS_ORIGINS=https://app.example', () => {
  const svc = useService({ env: { CORS_ORIGINS: 'https://app.example' } });

  it('allows that origin, on a preflight and on an answer', async () => {
    const pre = await preflight(svc.baseUrl, '/api/v1/tasks/00000000-0000-4000-8000-000000000000', 'https://app.example');
    await pre.arrayBuffer();
    expect(pre.status).toBeLessThan(300);
    const allowed = corsHeaders(pre.headers);
    expect(allowed['access-control-allow-origin']).toBe('https://app.example');
    expect(allowed['access-control-allow-methods']).toMatch(/DELETE/i);
    expect(allowed['access-control-allow-headers']).toMatch(/x-api-key/i);
    const list = await fetch(`${svc.baseUrl}/api/v1/tasks`, { headers: { origin: 'https://app.example' } });
    await list.arrayBuffer();
    expect(list.headers.get('access-control-allow-origin')).toBe('https://app.example');
  });

  it('still answers other origins without CORS headers', async () => {
    for (const origin of ['https://evil.example', 'null', 'https://app.example.evil.example']) {
      const pre = await preflight(svc.baseUrl, '/api/v1/tasks', origin);
      await pre.arrayBuffer();
      expect(corsHeaders(pre.headers), `OPTIONS from ${origin}`).toEqual({});
      const list = await fetch(`${svc.baseUrl}/api/v1/tasks`, { headers: { origin } });
      await list.arrayBuffer();
      expect(corsHeaders(list.headers), `GET from ${origin}`).toEqual({});
    }
  });
});
