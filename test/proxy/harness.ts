import http, { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import net, { type Socket } from 'node:net';
import { once } from 'node:events';
import { defaultConfig } from '../../governor/config.js';
import { createProxy, type EdgeProxy, type ProxyConfig } from '../../proxy/server.js';

/**
 * A proxy config for tests: the defaults with loopback, any port, small limits, one process and
 * the cache off (tests of the cache turn it on); override what a test needs.
 */
export function proxyConfig(origin: string, overrides: Partial<ProxyConfig> = {}): ProxyConfig {
  return {
    ...defaultConfig().proxy,
    workers: 1,
    cache: { ...defaultConfig().proxy.cache, enabled: false },
    host: '127.0.0.1',
    port: 0,
    origin,
    maxInFlight: 16,
    maxQueue: 16,
    queueTimeoutMs: 5_000,
    upstreamTimeoutMs: 5_000,
    clientTimeoutMs: 5_000,
    retryAfterSeconds: 2,
    maxTrackedClients: 100,
    ...overrides,
  };
}

export interface TestOrigin {
  url: string;
  port: number;
  /** Connections currently open to the origin. */
  open: Set<Socket>;
  /** Requests received so far, in arrival order. */
  received: IncomingMessage[];
  close(): Promise<void>;
}

/** An http server on 127.0.0.1 that tracks its connections and requests. */
export async function startOrigin(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<TestOrigin> {
  const open = new Set<Socket>();
  const received: IncomingMessage[] = [];
  const server = http.createServer((req, res) => {
    received.push(req);
    handler(req, res);
  });
  server.on('connection', (socket) => {
    open.add(socket);
    socket.once('close', () => open.delete(socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    open,
    received,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** A raw TCP server on 127.0.0.1 (for origins that misbehave below HTTP). */
export async function startRawOrigin(onConnection: (socket: Socket) => void): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    onConnection(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  /** The header lines as received: names with their case, in order, each followed by its value. */
  rawHeaders: string[];
  body: string;
}

/** One request on a fresh connection; resolves with the whole response. */
export function request(
  url: string,
  options: { method?: string; path?: string; headers?: http.OutgoingHttpHeaders; body?: string } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const target = new URL(options.path ?? '/', url);
    const req = http.request(target, { method: options.method ?? 'GET', headers: options.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, rawHeaders: res.rawHeaders, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/** Sends raw bytes on a new connection and collects everything until the server closes it or `idleMs` passes. */
export function rawExchange(port: number, bytes: string, idleMs = 500): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(bytes));
    let text = '';
    const finish = () => {
      socket.destroy();
      resolve(text);
    };
    let timer = setTimeout(finish, idleMs);
    socket.on('data', (chunk) => {
      text += chunk.toString('latin1');
      clearTimeout(timer);
      timer = setTimeout(finish, idleMs);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(text);
    });
    socket.on('error', reject);
  });
}

/** Polls `condition` every 10 ms until it holds or `timeoutMs` passes (then throws `what`). */
export async function waitFor(condition: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Starts a proxy in front of `origin` with test defaults. */
export function startProxy(origin: string, overrides: Partial<ProxyConfig> = {}): Promise<EdgeProxy> {
  return createProxy(proxyConfig(origin, overrides));
}
