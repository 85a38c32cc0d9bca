import { execFile, spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A packaged function, unzipped, run once per call in a fresh Node.js process as Lambda's runtime would. */
export interface PackagedFunction {
  invoke(event: unknown, env?: Record<string, string>): Promise<unknown>;
}

/**
 * Unzips `zip` into `dir` and returns a function that runs its handler with an event in a fresh process (the handler's
 * module loaded anew each time: a cold start), with `env` and the AWS SDK from node_modules, as the runtime provides it.
 */
export async function unzipFunction(zip: string, dir: string, env: Record<string, string>): Promise<PackagedFunction> {
  mkdirSync(dir, { recursive: true });
  await run('unzip', ['-q', '-o', zip, '-d', dir]);
  const name = path.basename(zip, '.zip').replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
  const entry = `./functions/${name}.js`;
  const script = `
    const { handler } = require(${JSON.stringify(entry)});
    let input = '';
    process.stdin.on('data', (c) => { input += c; });
    process.stdin.on('end', async () => {
      const deadline = Date.now() + 60000;
      const context = { functionName: 'packaged', awsRequestId: 'req-1', getRemainingTimeInMillis: () => deadline - Date.now() };
      try {
        const result = await handler(JSON.parse(input), context);
        process.stdout.write('\\n@@RESULT@@' + JSON.stringify(result === undefined ? null : result));
      } catch (err) {
        process.stdout.write('\\n@@ERROR@@' + JSON.stringify(String(err && err.stack || err)));
      }
    });`;
  return {
    invoke: (event, more = {}) =>
      new Promise((resolve, reject) => {
        const child = spawn(process.execPath, ['-e', script], {
          cwd: dir,
          env: { PATH: process.env.PATH, NODE_PATH: path.resolve('node_modules'), ...env, ...more },
          stdio: ['pipe', 'pipe', 'pipe'],
        });
        let out = '';
        let err = '';
        child.stdout.on('data', (c: Buffer) => {
          out += c.toString();
        });
        child.stderr.on('data', (c: Buffer) => {
          err += c.toString();
        });
        child.on('error', reject);
        child.on('close', (code) => {
          const result = /\n@@RESULT@@(.*)$/s.exec(out);
          if (result) return resolve(JSON.parse(result[1] as string));
          const failure = /\n@@ERROR@@(.*)$/s.exec(out);
          reject(new Error(`${name} ${failure ? JSON.parse(failure[1] as string) : `exited ${code}`}\n${err.slice(-2000)}`));
        });
        child.stdin.end(JSON.stringify(event));
      }),
  };
}

export interface SsmStandIn {
  endpoint: string;
  /** The GetParameters requests received: the names asked for and whether decryption was asked. */
  requests: Array<{ Names: string[]; WithDecryption?: boolean }>;
  values: Map<string, string>;
  close(): Promise<void>;
}

/**
 * A local stand-in for SSM's GetParameters (AWS's JSON 1.1 protocol, X-Amz-Target AmazonSSM.GetParameters), enough for
 * Powertools' SSM provider with AWS_ENDPOINT_URL_SSM pointing at it: SecureString values by name, missing names
 * answered as InvalidParameters.
 */
export async function startSsmStandIn(values: Record<string, string>): Promise<SsmStandIn> {
  const requests: SsmStandIn['requests'] = [];
  const store = new Map(Object.entries(values));
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => {
      body += c.toString();
    });
    req.on('end', () => {
      const target = String(req.headers['x-amz-target'] ?? '');
      if (target !== 'AmazonSSM.GetParameters') {
        res.writeHead(400, { 'content-type': 'application/x-amz-json-1.1' });
        res.end(JSON.stringify({ __type: 'UnknownOperationException', message: target }));
        return;
      }
      const input = JSON.parse(body) as { Names: string[]; WithDecryption?: boolean };
      requests.push(input);
      const found = input.Names.filter((n) => store.has(n));
      res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
      res.end(
        JSON.stringify({
          Parameters: found.map((Name) => ({ Name, Type: 'SecureString', Value: store.get(Name), Version: 1, DataType: 'text' })),
          InvalidParameters: input.Names.filter((n) => !store.has(n)),
        }),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    values: store,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface ResponseUrlStandIn {
  /** A fresh response URL (as CloudFormation's presigned S3 PUT URL). */
  url(): string;
  /** The bodies PUT to each URL, parsed, with the content type they came with. */
  answers: Map<string, { body: Record<string, unknown>; contentType: string | undefined }>;
  close(): Promise<void>;
}

/** A local stand-in for the presigned S3 URLs CloudFormation gives a custom resource to answer on. */
export async function startResponseUrlStandIn(): Promise<ResponseUrlStandIn> {
  const answers: ResponseUrlStandIn['answers'] = new Map();
  let next = 0;
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => {
      body += c.toString();
    });
    req.on('end', () => {
      if (req.method !== 'PUT') return res.writeHead(405).end();
      answers.set(req.url ?? '', { body: JSON.parse(body), contentType: req.headers['content-type'] });
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: () => `${base}/stack-responses/${++next}?X-Amz-Signature=abc`,
    answers,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
