import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { RealClock, type Clock, type TimerHandle } from '../clock.js';

/** Upper bounds of the demo origin's parameters; a request beyond one gets 400. */
export const ORIGIN_LIMITS = { workMs: 10_000, bytes: 1024 * 1024, slowMs: 30_000 } as const;

export interface DemoOriginOptions {
  host?: string;
  /** 0 = any free port. */
  port?: number;
  clock?: Clock;
}

export interface DemoOrigin {
  url: string;
  port: number;
  /** Delays every page (not /admin/slow) by `ms`; 0 turns the switch off. Throws on a value out of range. */
  setSlow(ms: number): void;
  /** Current delay of the slow switch, ms. */
  slowMs(): number;
  /** Stops listening, cuts open connections and cancels pending delayed responses. */
  close(): Promise<void>;
}

interface StaticAsset {
  type: string;
  body: Buffer;
  etag: string;
}

function asset(type: string, text: string): StaticAsset {
  const body = Buffer.from(text);
  return { type, body, etag: `"${createHash('sha1').update(body).digest('base64url').slice(0, 16)}"` };
}

const STATIC_ASSETS: Record<string, StaticAsset> = {
  '/static/app.css': asset('text/css; charset=utf-8', 'body{font-family:sans-serif;margin:2em;max-width:40em}\n'),
  '/static/app.js': asset('text/javascript; charset=utf-8', 'document.title += " (demo)";\n'),
  '/static/logo.svg': asset(
    'image/svg+xml',
    '<svg xmlns="http://www.w3.org/2000/svg" width="32" height="32"><circle cx="16" cy="16" r="14" fill="teal"/></svg>\n',
  ),
};

const INDEX_HTML = Buffer.from(`<!doctype html>
<html><head><meta charset="utf-8"><title>Governor demo origin</title><link rel="stylesheet" href="/static/app.css"></head>
<body><h1>Governor demo origin</h1>
<ul>
${Object.keys(STATIC_ASSETS)
  .map((path) => `<li><a href="${path}">${path}</a> cacheable (public, max-age=60, ETag)</li>`)
  .join('\n')}
<li><a href="/api/time">/api/time</a> uncacheable JSON (no-store)</li>
<li><a href="/work?ms=50">/work?ms=N</a> waits N ms without using the CPU (N &le; ${ORIGIN_LIMITS.workMs})</li>
<li><a href="/bytes?n=1024">/bytes?n=N</a> N bytes (N &le; ${ORIGIN_LIMITS.bytes})</li>
<li>/admin/slow?ms=N (GET or POST) delays every page by N ms; 0 turns it off (N &le; ${ORIGIN_LIMITS.slowMs})</li>
</ul>
<script src="/static/app.js"></script>
</body></html>
`);

const PAYLOAD = Buffer.alloc(ORIGIN_LIMITS.bytes, 'governor-demo-origin\n');

/** An integer query parameter in 0..max, or an error message naming the parameter and its range. */
function intParam(url: URL, name: string, max: number): number | string {
  const raw = url.searchParams.get(name);
  const value = raw === null || raw === '' ? NaN : Number(raw);
  if (!Number.isInteger(value) || value < 0 || value > max) {
    return `query parameter ${name} must be an integer from 0 to ${max}, got ${raw === null ? 'nothing' : JSON.stringify(raw)}`;
  }
  return value;
}

function send(res: ServerResponse, status: number, headers: Record<string, string>, body: Buffer, head: boolean): void {
  res.writeHead(status, { ...headers, 'content-length': String(body.length) });
  res.end(head ? undefined : body);
}

function sendJson(res: ServerResponse, status: number, value: unknown, head: boolean): void {
  send(res, status, { 'content-type': 'application/json', 'cache-control': 'no-store' }, Buffer.from(JSON.stringify(value)), head);
}

/**
 * A small website to put behind the fleet: cacheable static pages, uncacheable JSON, a
 * CPU-free wait and sized bodies. Its handlers are tiny so that under load the proxy, not the
 * origin, is what gets busy; the slow switch makes every page slow on purpose, to show that a
 * slow origin (latency, not proxy work) does not grow the fleet.
 */
export async function startDemoOrigin(opts: DemoOriginOptions = {}): Promise<DemoOrigin> {
  const clock = opts.clock ?? new RealClock();
  const pending = new Set<TimerHandle>();
  let slowMs = 0;

  const setSlow = (ms: number): void => {
    if (!Number.isInteger(ms) || ms < 0 || ms > ORIGIN_LIMITS.slowMs) {
      throw new RangeError(`slow switch must be an integer from 0 to ${ORIGIN_LIMITS.slowMs} ms, got ${ms}`);
    }
    slowMs = ms;
  };

  /** Runs `respond` after `ms` unless the client has gone; timers die with the origin. */
  const after = (ms: number, res: ServerResponse, respond: () => void): void => {
    if (ms === 0) {
      respond();
      return;
    }
    const handle = clock.setTimeout(() => {
      pending.delete(handle);
      res.off('close', cancel);
      respond();
    }, ms);
    const cancel = () => {
      clock.clearTimeout(handle);
      pending.delete(handle);
    };
    pending.add(handle);
    res.once('close', cancel);
  };

  const page = (req: IncomingMessage, res: ServerResponse, url: URL, head: boolean): void => {
    const path = url.pathname;
    if (path === '/') {
      send(res, 200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'public, max-age=60' }, INDEX_HTML, head);
      return;
    }
    if (path.startsWith('/static/')) {
      const file = STATIC_ASSETS[path];
      if (!file) {
        sendJson(res, 404, { error: `no static file ${path}` }, head);
        return;
      }
      const headers = { 'content-type': file.type, 'cache-control': 'public, max-age=60', etag: file.etag };
      if (req.headers['if-none-match'] === file.etag) {
        res.writeHead(304, headers);
        res.end();
        return;
      }
      send(res, 200, headers, file.body, head);
      return;
    }
    if (path === '/api/time') {
      const now = clock.now();
      sendJson(res, 200, { now, iso: new Date(now).toISOString() }, head);
      return;
    }
    if (path === '/work') {
      const ms = intParam(url, 'ms', ORIGIN_LIMITS.workMs);
      if (typeof ms === 'string') {
        sendJson(res, 400, { error: ms }, head);
        return;
      }
      after(ms, res, () => sendJson(res, 200, { waitedMs: ms }, head));
      return;
    }
    if (path === '/bytes') {
      const n = intParam(url, 'n', ORIGIN_LIMITS.bytes);
      if (typeof n === 'string') {
        sendJson(res, 400, { error: n }, head);
        return;
      }
      send(res, 200, { 'content-type': 'application/octet-stream', 'cache-control': 'no-store' }, PAYLOAD.subarray(0, n), head);
      return;
    }
    sendJson(res, 404, { error: `no page ${path}` }, head);
  };

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://origin.invalid');
    const method = req.method ?? 'GET';
    if (url.pathname === '/admin/slow') {
      if (method !== 'GET' && method !== 'POST') {
        res.setHeader('allow', 'GET, POST');
        sendJson(res, 405, { error: `${method} not allowed on /admin/slow` }, false);
        return;
      }
      const ms = intParam(url, 'ms', ORIGIN_LIMITS.slowMs);
      if (typeof ms === 'string') {
        sendJson(res, 400, { error: ms }, false);
        return;
      }
      setSlow(ms);
      sendJson(res, 200, { slowMs }, false);
      return;
    }
    if (method !== 'GET' && method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      sendJson(res, 405, { error: `${method} not allowed; the demo origin serves GET and HEAD` }, false);
      return;
    }
    after(slowMs, res, () => page(req, res, url, method === 'HEAD'));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const host = opts.host ?? '127.0.0.1';

  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    setSlow,
    slowMs: () => slowMs,
    close: () =>
      new Promise<void>((resolve) => {
        for (const handle of pending) clock.clearTimeout(handle);
        pending.clear();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
