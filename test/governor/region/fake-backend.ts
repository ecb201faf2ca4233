import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Backend } from '../../../governor/region/front-door.js';

/**
 * A stand-in for one instance: a proxy port that answers every request with its id after
 * `delayMs` (or a draining 503 when `draining`), and an admin port whose /readyz follows `ready`.
 */
export interface FakeBackend {
  id: string;
  proxyUrl: string;
  adminUrl: string;
  ready: boolean;
  draining: boolean;
  delayMs: number;
  /** Requests answered 200. */
  served: number;
  /** Requests whose client went away before the answer. */
  aborted: number;
  /** Requests open right now. */
  open: number;
  backend(state?: Backend['state']): Backend;
  /** Stops both ports after open requests finish (like a drained instance), cutting idle keep-alive sockets. */
  close(): Promise<void>;
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
  });
}

export async function startFakeBackend(id: string, delayMs = 0): Promise<FakeBackend> {
  const fake = { id, ready: true, draining: false, delayMs, served: 0, aborted: 0, open: 0 } as FakeBackend;
  const proxy = createServer((req, res) => {
    if (fake.draining) {
      res.writeHead(503, { 'x-governor-error': 'GOV_ERR_PROXY_DRAINING', 'retry-after': '1', connection: 'close' });
      res.end('draining');
      return;
    }
    fake.open++;
    const timer = setTimeout(() => {
      fake.open--;
      fake.served++;
      res.writeHead(200, { 'content-type': 'text/plain', 'x-backend': id });
      res.end(id);
    }, fake.delayMs);
    res.on('close', () => {
      if (res.writableFinished) return;
      clearTimeout(timer);
      fake.open--;
      fake.aborted++;
    });
  });
  const admin = createServer((req, res) => {
    const ok = req.url === '/readyz' && fake.ready;
    res.writeHead(ok ? 200 : 503);
    res.end(ok ? 'ready' : 'not ready');
  });
  fake.proxyUrl = await listen(proxy);
  fake.adminUrl = await listen(admin);
  fake.backend = (state = 'running') => ({ id, proxyUrl: fake.proxyUrl, adminUrl: fake.adminUrl, state });
  fake.close = async () => {
    await Promise.all([closeServer(proxy), closeServer(admin)]);
  };
  return fake;
}

/** A loopback URL on which nothing listens (a port just freed). */
export async function refusingUrl(): Promise<string> {
  const server = createServer();
  const url = await listen(server);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return url;
}

export interface Answer {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

/** One request with a fresh connection (no agent), so tests see exactly what the server sends. */
export function fetchText(url: string, method = 'GET', headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), headers: res.headers }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** Runs `count` GETs with at most `concurrency` open at once; resolves with every status. */
export async function runRequests(url: string, count: number, concurrency: number, onEach?: (done: number) => void): Promise<number[]> {
  const statuses: number[] = [];
  let next = 0;
  const worker = async () => {
    while (next < count) {
      next++;
      const answer = await fetchText(url).catch(() => ({ status: 0 }));
      statuses.push(answer.status);
      onEach?.(statuses.length);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return statuses;
}
