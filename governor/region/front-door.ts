import { Agent, createServer, request, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { RealClock, type Clock, type TimerHandle } from '../clock.js';
import type { InstanceState } from '../cloud/port.js';
import type { ErrorCode } from '../errors.js';
import { pickLeastOutstanding } from './balancer.js';

/** One member of the fleet as the front door sees it. */
export interface Backend {
  id: string;
  /** Where client traffic goes; an empty or malformed URL makes the backend unroutable. */
  proxyUrl: string;
  /** Base URL of the admin API; `GET adminUrl/readyz` answering 200 means ready. */
  adminUrl?: string;
  state: InstanceState;
}

export interface FrontDoorOptions {
  host?: string;
  /** 0 = any free port. */
  port?: number;
  /** The fleet, read every `refreshMs`. A rejection keeps the previous list. */
  backends: () => Backend[] | Promise<Backend[]>;
  /** How often the backend list is read and every running backend's /readyz is checked. Default 500. */
  refreshMs?: number;
  /** A /readyz check that takes longer fails. Default 1000. */
  healthTimeoutMs?: number;
  /** A backend silent this long while a request is open fails that request with 504. Default 30000. */
  upstreamTimeoutMs?: number;
  /** Retry-After of the 503 answered when no backend is ready. Default 1. */
  retryAfterSeconds?: number;
  /** How long close() lets open requests finish before cutting them. Default 1000. */
  closeGraceMs?: number;
  clock?: Clock;
  log?: Logger;
}

export type FrontDoorErrorKind =
  /** No ready backend: 503 + Retry-After. */
  | 'no_ready'
  /** The chosen backend failed before responding and the request could not be retried: 502. */
  | 'upstream_failed'
  /** The chosen backend went silent for upstreamTimeoutMs: 504 (or the client connection is cut mid-response). */
  | 'upstream_timeout'
  /** The backend's response broke off after it had started; the client connection is cut. */
  | 'upstream_reset'
  /** The client went away before the response finished; the upstream request was destroyed. */
  | 'client_aborted'
  /** Reading the backend list failed; the previous list stayed in use. */
  | 'backends_list_failed';

export interface BackendStats {
  id: string;
  state: InstanceState;
  ready: boolean;
  /** Why it is not ready (absent when ready). */
  notReadyReason?: string;
  outstanding: number;
  requests: number;
  failures: number;
}

export interface FrontDoorStats {
  /** Client requests received. */
  requests: number;
  /** Requests sent a second time to another backend (each at most once). */
  retries: number;
  errors: Record<FrontDoorErrorKind, number>;
  backends: BackendStats[];
  /** Ids of the backends currently receiving traffic. */
  ready: string[];
}

export interface FrontDoor {
  url: string;
  port: number;
  stats(): FrontDoorStats;
  /** Reads the backend list and checks readiness now (also done every refreshMs). */
  refresh(): Promise<void>;
  /** Stops accepting, lets open requests finish for closeGraceMs, then cuts the rest. */
  close(): Promise<void>;
}

/** The header and code by which an instance's proxy says "I am draining, send this elsewhere". */
export const DRAINING_HEADER = 'x-governor-error';
export const DRAINING_CODE = 'GOV_ERR_PROXY_DRAINING';

interface BackendEntry {
  id: string;
  state: InstanceState;
  proxy?: URL;
  adminUrl?: string;
  /** Last /readyz verdict, cleared early by a failed or draining forward. */
  healthy: boolean;
  notReadyReason?: string;
  outstanding: number;
  requests: number;
  failures: number;
}

/** Per client request: what was tried, and the upstream request in progress. */
interface Exchange {
  req: IncomingMessage;
  res: ServerResponse;
  tried: Set<string>;
  /** GET/HEAD without a body: safe to send again when the first backend gave nothing. */
  retryable: boolean;
  current?: ReturnType<typeof request>;
  clientGone: boolean;
}

const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade'];

function withoutHopByHop(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const out: IncomingHttpHeaders = { ...headers };
  const listed = String(headers.connection ?? '')
    .split(',')
    .map((h) => h.trim().toLowerCase())
    .filter(Boolean);
  for (const name of [...HOP_BY_HOP, ...listed]) delete out[name];
  return out;
}

function parseProxyUrl(raw: string): URL | undefined {
  if (raw === '') return undefined;
  try {
    const url = new URL(raw);
    return url.protocol === 'http:' ? url : undefined;
  } catch {
    return undefined;
  }
}

function isReady(b: BackendEntry): boolean {
  return b.state === 'running' && b.proxy !== undefined && b.healthy;
}

function hasBody(req: IncomingMessage): boolean {
  return req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] ?? '0') !== '0';
}

/**
 * The region's single entry point, behaving like a cloud load balancer in front of the fleet.
 *
 * Contract:
 * - a request goes to a ready backend (state running, proxy URL set, last /readyz 200) with the
 *   fewest outstanding requests, ties taken in turn;
 * - a backend that is leaving, not ready, or whose /readyz fails stops receiving requests at the
 *   next refresh; one whose connection fails, or that answers 503 with
 *   `x-governor-error: GOV_ERR_PROXY_DRAINING`, stops at once (until /readyz passes again);
 * - a GET/HEAD without a body whose backend failed before any response byte (or answered that
 *   draining 503) is sent once more to another ready backend, so a draining instance causes no
 *   client-visible failure;
 * - no ready backend: 503, JSON `{ error: { code: GOV_ERR_FRONT_DOOR_NO_READY, message } }`, Retry-After;
 * - a client that goes away has its upstream request destroyed.
 * Upgrade (WebSocket) requests are not forwarded.
 */
export async function startFrontDoor(opts: FrontDoorOptions): Promise<FrontDoor> {
  const clock = opts.clock ?? new RealClock();
  const refreshMs = opts.refreshMs ?? 500;
  const healthTimeoutMs = opts.healthTimeoutMs ?? 1000;
  const upstreamTimeoutMs = opts.upstreamTimeoutMs ?? 30_000;
  const retryAfterSeconds = opts.retryAfterSeconds ?? 1;
  const closeGraceMs = opts.closeGraceMs ?? 1000;
  const log = opts.log;

  const entries = new Map<string, BackendEntry>();
  const upstreamAgent = new Agent({ keepAlive: true });
  const healthAgent = new Agent({ keepAlive: true, maxSockets: 4 });
  const errors: Record<FrontDoorErrorKind, number> = {
    no_ready: 0,
    upstream_failed: 0,
    upstream_timeout: 0,
    upstream_reset: 0,
    client_aborted: 0,
    backends_list_failed: 0,
  };
  let requests = 0;
  let retries = 0;
  let cursor = 0;
  let closed = false;
  let refreshTimer: TimerHandle | undefined;

  const setHealth = (b: BackendEntry, healthy: boolean, reason?: string): void => {
    const wasReady = isReady(b);
    b.healthy = healthy;
    b.notReadyReason = healthy ? undefined : reason;
    const nowReady = isReady(b);
    if (wasReady !== nowReady) {
      log?.info({ backend: b.id, ready: nowReady, reason: b.notReadyReason }, nowReady ? 'backend ready' : 'backend not ready');
    }
  };

  const sync = (list: Backend[]): void => {
    const seen = new Set<string>();
    for (const item of list) {
      seen.add(item.id);
      const proxy = parseProxyUrl(item.proxyUrl);
      const entry = entries.get(item.id);
      if (!entry) {
        entries.set(item.id, {
          id: item.id,
          state: item.state,
          proxy,
          adminUrl: item.adminUrl,
          healthy: false,
          notReadyReason: 'not checked yet',
          outstanding: 0,
          requests: 0,
          failures: 0,
        });
        continue;
      }
      const wasReady = isReady(entry);
      entry.state = item.state;
      entry.proxy = proxy;
      entry.adminUrl = item.adminUrl;
      if (wasReady && !isReady(entry)) {
        entry.notReadyReason = `state ${item.state}`;
        log?.info({ backend: entry.id, ready: false, reason: entry.notReadyReason }, 'backend not ready');
      }
    }
    for (const id of entries.keys()) if (!seen.has(id)) entries.delete(id);
  };

  const checkHealth = (b: BackendEntry): Promise<void> => {
    if (b.state !== 'running') {
      setHealth(b, false, `state ${b.state}`);
      return Promise.resolve();
    }
    if (b.proxy === undefined) {
      setHealth(b, false, 'no proxy URL');
      return Promise.resolve();
    }
    if (b.adminUrl === undefined) {
      setHealth(b, true);
      return Promise.resolve();
    }
    const readyzUrl = `${b.adminUrl.replace(/\/+$/, '')}/readyz`;
    return new Promise<void>((resolve) => {
      let settled = false;
      const settle = (healthy: boolean, reason?: string) => {
        if (settled) return;
        settled = true;
        setHealth(b, healthy, reason);
        resolve();
      };
      try {
        const check = request(readyzUrl, { agent: healthAgent, timeout: healthTimeoutMs }, (res) => {
          res.resume();
          settle(res.statusCode === 200, `/readyz answered ${res.statusCode}`);
        });
        check.on('timeout', () => check.destroy(new Error(`/readyz took over ${healthTimeoutMs} ms`)));
        check.on('error', (err) => settle(false, `/readyz failed: ${err.message}`));
        check.end();
      } catch (err) {
        settle(false, `bad admin URL ${JSON.stringify(b.adminUrl)}: ${(err as Error).message}`);
      }
    });
  };

  const refresh = async (): Promise<void> => {
    try {
      sync(await opts.backends());
    } catch (err) {
      errors.backends_list_failed++;
      log?.warn({ err }, 'reading the backend list failed; keeping the previous one');
    }
    await Promise.all([...entries.values()].map(checkHealth));
  };

  const scheduleRefresh = (): void => {
    if (closed) return;
    refreshTimer = clock.setTimeout(() => {
      refreshTimer = undefined;
      void refresh().finally(scheduleRefresh);
    }, refreshMs);
  };

  const sendError = (ex: Exchange, status: number, code: ErrorCode, message: string): void => {
    const body = JSON.stringify({ error: { code, message } });
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'cache-control': 'no-store',
      'content-length': String(Buffer.byteLength(body)),
    };
    if (status === 503) headers['retry-after'] = String(retryAfterSeconds);
    ex.res.writeHead(status, headers);
    ex.res.end(ex.req.method === 'HEAD' ? undefined : body);
  };

  const noReady = (ex: Exchange): void => {
    errors.no_ready++;
    sendError(ex, 503, 'GOV_ERR_FRONT_DOOR_NO_READY', 'no ready instance; retry later');
  };

  /** After a failure before any response byte: try another backend once, or answer the error. */
  const fallBack = (ex: Exchange, status: 502 | 504, kind: 'upstream_failed' | 'upstream_timeout', message: string): void => {
    if (ex.clientGone) return;
    if (ex.retryable && ex.tried.size === 1 && kind === 'upstream_failed') {
      retries++;
      forward(ex);
      return;
    }
    errors[kind]++;
    sendError(ex, status, 'GOV_ERR_FRONT_DOOR_UPSTREAM', message);
  };

  const forward = (ex: Exchange): void => {
    const ready = [...entries.values()].filter((b) => isReady(b) && !ex.tried.has(b.id));
    const target = pickLeastOutstanding(ready, cursor++);
    if (target === undefined) {
      noReady(ex);
      return;
    }
    const proxy = target.proxy as URL;
    ex.tried.add(target.id);
    target.outstanding++;
    target.requests++;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      target.outstanding--;
    };
    const firstAttempt = ex.tried.size === 1;
    const { req, res } = ex;
    const headers = withoutHopByHop(req.headers);
    const clientAddress = req.socket.remoteAddress ?? '';
    headers['x-forwarded-for'] = headers['x-forwarded-for'] ? `${headers['x-forwarded-for']}, ${clientAddress}` : clientAddress;
    headers['x-forwarded-proto'] = 'http';
    if (req.headers.host) headers['x-forwarded-host'] = req.headers.host;

    const upstream = request({
      protocol: proxy.protocol,
      hostname: proxy.hostname,
      port: proxy.port,
      method: req.method,
      path: req.url,
      headers,
      agent: upstreamAgent,
      timeout: upstreamTimeoutMs,
    });
    ex.current = upstream;
    let responded = false;
    let timedOut = false;

    upstream.on('timeout', () => {
      timedOut = true;
      upstream.destroy(new Error(`no answer from ${target.id} within ${upstreamTimeoutMs} ms`));
    });

    /** The response broke off after it had started: the client connection is cut, counted once. */
    let broken = false;
    const breakOff = (kind: 'upstream_timeout' | 'upstream_reset') => {
      if (broken || ex.clientGone) return;
      broken = true;
      errors[kind]++;
      res.destroy();
    };

    upstream.on('response', (up) => {
      up.on('end', release);
      up.on('close', () => {
        release();
        if (responded && !up.complete) breakOff(timedOut ? 'upstream_timeout' : 'upstream_reset');
      });
      if (up.statusCode === 503 && up.headers[DRAINING_HEADER] === DRAINING_CODE) {
        setHealth(target, false, 'draining');
        if (ex.retryable && ex.tried.size === 1 && !ex.clientGone) {
          up.resume();
          retries++;
          forward(ex);
          return;
        }
      }
      responded = true;
      if (ex.clientGone) {
        up.resume();
        return;
      }
      res.writeHead(up.statusCode ?? 502, up.statusMessage, withoutHopByHop(up.headers));
      up.pipe(res);
    });

    upstream.on('error', (err) => {
      release();
      if (ex.clientGone) return;
      target.failures++;
      if (responded) {
        breakOff(timedOut ? 'upstream_timeout' : 'upstream_reset');
        return;
      }
      log?.debug({ backend: target.id, err: err.message }, 'forward failed before a response');
      if (timedOut) {
        fallBack(ex, 504, 'upstream_timeout', `instance ${target.id} did not answer within ${upstreamTimeoutMs} ms`);
        return;
      }
      setHealth(target, false, `forward failed: ${err.message}`);
      fallBack(ex, 502, 'upstream_failed', `instance ${target.id} failed before answering: ${err.message}`);
    });

    if (firstAttempt && !ex.retryable) req.pipe(upstream);
    else upstream.end();
  };

  const server = createServer((req, res) => {
    requests++;
    const method = req.method ?? 'GET';
    const ex: Exchange = {
      req,
      res,
      tried: new Set(),
      retryable: (method === 'GET' || method === 'HEAD') && !hasBody(req),
      clientGone: false,
    };
    res.on('close', () => {
      if (res.writableFinished) return;
      ex.clientGone = true;
      errors.client_aborted++;
      ex.current?.destroy();
    });
    forward(ex);
  });

  await refresh();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  scheduleRefresh();
  const { port } = server.address() as AddressInfo;
  const host = opts.host ?? '127.0.0.1';
  log?.info({ port, ready: [...entries.values()].filter(isReady).map((b) => b.id) }, 'front door listening');

  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    refresh,
    stats: () => {
      const list = [...entries.values()];
      return {
        requests,
        retries,
        errors: { ...errors },
        backends: list.map((b) => ({
          id: b.id,
          state: b.state,
          ready: isReady(b),
          ...(isReady(b) ? {} : { notReadyReason: b.notReadyReason ?? `state ${b.state}` }),
          outstanding: b.outstanding,
          requests: b.requests,
          failures: b.failures,
        })),
        ready: list.filter(isReady).map((b) => b.id),
      };
    },
    close: () =>
      new Promise<void>((resolve) => {
        closed = true;
        if (refreshTimer !== undefined) clock.clearTimeout(refreshTimer);
        const cut = clock.setTimeout(() => server.closeAllConnections(), closeGraceMs);
        server.close(() => {
          clock.clearTimeout(cut);
          upstreamAgent.destroy();
          healthAgent.destroy();
          resolve();
        });
        server.closeIdleConnections();
      }),
  };
}
