import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { pino, type Logger } from 'pino';
import type { GovernorConfig } from '../governor/config-types.js';
import { GovError } from '../governor/errors.js';
import { Admission, type Refusal } from './admission.js';
import { CircuitBreaker } from './breaker.js';
import { BusyMeter } from './busy.js';
import { CacheLayer, type CacheHost } from './cache-layer.js';
import { CacheStore } from './cache-store.js';
import { rawErrorResponse, sendErrorResponse, STATUS_OF_CODE, type ResponseErrorCode } from './coded-errors.js';
import { Denylist, normalizeAddress } from './denylist.js';
import { StalledClients, type WatchedConnection } from './stalled-clients.js';
import { TrustedProxies } from './trusted-proxies.js';
import { CACHE_HEADER, IDEMPOTENT_METHODS, SAFE_METHODS, type CacheStatus, type ClientExchange } from './exchange.js';
import { loadOriginCa } from './origin-ca.js';
import { Forwarder, type BodyTap, type OriginExchange, type OriginHandlers, type OriginRequest } from './forward.js';
import { responseHeadersForClient, upstreamRequestHeaders } from './headers.js';
import { checkRequest, hasBody, targetPath } from './request-checks.js';
import { RetryBudget } from './retry-budget.js';
import { ProxyStats } from './stats.js';
import type { BlockedClient, CachePurge, ProxyControl, ProxySample, ProxyTotals } from './types.js';

export type ProxyConfig = GovernorConfig['proxy'];

/** A running edge proxy: what the governor controls, plus where it listens and how to stop it. */
export interface EdgeProxy extends ProxyControl {
  /** e.g. http://127.0.0.1:8080 */
  url: string;
  port: number;
  block(address: string, untilMs: number, reason: string): void;
  unblock(address: string): boolean;
  blocked(): BlockedClient[];
  purge(what: CachePurge): Promise<{ purged: number }>;
  /** Replaces the whole denylist (a worker receiving the primary's list). */
  replaceBlocked(entries: BlockedClient[]): void;
  /** Stops listening and cuts every connection, client and origin. Resolves once closed. */
  close(): Promise<void>;
}

export interface ProxyOptions {
  log?: Logger;
  /**
   * Called with the cache key of every URL this proxy invalidated because an unsafe method
   * succeeded on it (RFC 9111 section 4.4): a cluster worker passes it on to its siblings.
   */
  onInvalidate?(key: string): void;
}

const REFUSAL_CODES: Record<Refusal, ResponseErrorCode> = {
  'queue-full': 'GOV_ERR_PROXY_SHED',
  'queue-timeout': 'GOV_ERR_PROXY_QUEUE_TIMEOUT',
  draining: 'GOV_ERR_PROXY_DRAINING',
};

/** Parse errors of Node's HTTP parser and the code the client is answered with. */
function clientErrorCode(err: NodeJS.ErrnoException): ResponseErrorCode {
  if (err.code === 'HPE_HEADER_OVERFLOW') return 'GOV_ERR_PROXY_HEADERS_TOO_LARGE';
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') return 'GOV_ERR_PROXY_REQUEST_TIMEOUT';
  return 'GOV_ERR_PROXY_BAD_REQUEST';
}

/** The origin as configured: its URL and, for an https origin with proxy.originCaFile, the authorities its certificate must chain to. */
export interface OriginTarget {
  url: URL;
  ca?: string;
}

/** `cfg`'s origin, checked: GovError GOV_ERR_CONFIG_INVALID for a URL that is not http(s), GOV_ERR_CONFIG_ORIGIN_CA for an unusable CA file. */
export function originTarget(cfg: ProxyConfig): OriginTarget {
  const url = parseOrigin(cfg.origin);
  return cfg.originCaFile === undefined ? { url } : { url, ca: loadOriginCa(cfg.originCaFile) };
}

function parseOrigin(origin: string): URL {
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    url = new URL('invalid:');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new GovError('GOV_ERR_CONFIG_INVALID', `proxy.origin: expected an http:// or https:// URL, got ${JSON.stringify(origin)}`, {
      key: 'proxy.origin',
      value: origin,
    });
  }
  return url;
}

/** The client's address as the socket sees it, IPv4-mapped IPv6 written as plain IPv4. */
function clientAddress(socket: Socket): string {
  return normalizeAddress(socket.remoteAddress ?? 'unknown');
}

/** A purge selector checked and made a cache key (path and query); GovError GOV_ERR_PROXY_BAD_REQUEST when malformed. */
export function checkedPurge(what: unknown): CachePurge {
  const bad = (why: string) => new GovError('GOV_ERR_PROXY_BAD_REQUEST', `cache purge: ${why}`, { purge: what });
  if (typeof what !== 'object' || what === null || Array.isArray(what)) throw bad('expected {"url": "/path"}, {"prefix": "/path"} or {"all": true}');
  const keys = Object.keys(what);
  if (keys.length !== 1) throw bad(`expected exactly one of url, prefix, all; got ${JSON.stringify(keys)}`);
  const record = what as Record<string, unknown>;
  if (keys[0] === 'all') {
    if (record.all !== true) throw bad('all: expected true');
    return { all: true };
  }
  const value = record[keys[0]];
  if (keys[0] !== 'url' && keys[0] !== 'prefix') throw bad(`unknown key ${JSON.stringify(keys[0])}: expected url, prefix or all`);
  if (typeof value !== 'string' || value.length === 0 || value.length > 8192) throw bad(`${keys[0]}: expected a path such as "/images/"`);
  const path = targetPath(value, 'GET');
  if (path === undefined || path === '*') throw bad(`${keys[0]} ${JSON.stringify(value)}: expected a path starting with / (or an absolute http URL)`);
  return keys[0] === 'url' ? { url: path } : { prefix: path };
}

/**
 * Starts the edge proxy in front of `cfg.origin` and resolves once it listens.
 *
 * Every request is counted, then checked: denylisted clients get 403, malformed or oversized
 * requests and smuggling shapes a coded 4xx. GET and HEAD then go through the shared cache
 * (./cache-layer.ts): hits are answered at once. Whatever needs the origin goes through
 * admission control (at most `maxInFlight` at the origin, at most `maxQueue` waiting FIFO for at
 * most `queueTimeoutMs`, the rest 503 with Retry-After), then to the origin through the
 * forwarder's circuit breaker, retries and deadlines (./forward.ts). Clients must send their
 * headers within limits.headersTimeoutMs and their request within `clientTimeoutMs` (408
 * beyond, also for a connection that sends nothing); a client that takes nothing of its
 * response for clientTimeoutMs is disconnected (./stalled-clients.ts); an idle keep-alive
 * connection is closed after Node's keepAliveTimeout.
 */
export async function createProxy(cfg: ProxyConfig, opts: ProxyOptions = {}): Promise<EdgeProxy> {
  const proxy = new EdgeProxyServer(cfg, originTarget(cfg), opts.log ?? pino({ level: 'silent' }), opts.onInvalidate);
  await proxy.listen();
  return proxy;
}

class EdgeProxyServer implements EdgeProxy, CacheHost {
  url = '';
  port = 0;
  readonly originHost: string;
  readonly detachedDeadlineMs: number;
  private ready = true;
  private readonly admission: Admission;
  private readonly stats: ProxyStats;
  private readonly busy = new BusyMeter();
  private readonly breaker: CircuitBreaker;
  private readonly retryBudget: RetryBudget;
  private readonly forwarder: Forwarder;
  private readonly denylist: Denylist;
  private readonly trustedProxies: TrustedProxies;
  private readonly store: CacheStore | undefined;
  private readonly cache: CacheLayer | undefined;
  private readonly server: http.Server;
  private readonly stalledClients: StalledClients<Connection>;
  /** Open client connections (a Map with deletes, not a WeakMap: see ClientExchange). */
  private readonly connections = new Map<Socket, Connection>();

  constructor(
    private readonly cfg: ProxyConfig,
    origin: OriginTarget,
    private readonly log: Logger,
    private readonly onInvalidate: ((key: string) => void) | undefined,
  ) {
    this.originHost = origin.url.host;
    this.detachedDeadlineMs = Math.min(cfg.deadlines.totalMs, cfg.upstreamTimeoutMs);
    this.admission = new Admission(cfg);
    this.stats = new ProxyStats(cfg.maxTrackedClients);
    this.breaker = new CircuitBreaker(cfg.breaker);
    this.retryBudget = new RetryBudget(cfg.retryBudget);
    this.denylist = new Denylist(cfg.limits.maxBlockedClients);
    this.trustedProxies = new TrustedProxies(cfg.trustedProxies);
    this.forwarder = new Forwarder({
      origin: origin.url,
      originCa: origin.ca,
      maxSockets: cfg.maxInFlight,
      upstreamTimeoutMs: cfg.upstreamTimeoutMs,
      connectMs: cfg.deadlines.connectMs,
      maxRetries: cfg.retryBudget.maxRetries,
      breaker: this.breaker,
      retryBudget: this.retryBudget,
      log,
      bytesOut: (bytes) => this.stats.addBytesOut(bytes),
      cut: (code, res) => {
        this.stats.failed(code);
        const current = res?.socket ? this.connections.get(res.socket)?.current : undefined;
        if (current !== undefined) current.endedByProxy = true;
      },
    });
    if (cfg.cache.enabled && cfg.cache.maxBytes > 0) {
      this.store = new CacheStore(cfg.cache);
      this.cache = new CacheLayer(this.store, this, Math.min(cfg.cache.maxEntryBytes, cfg.cache.maxBytes));
    }
    // How often client timeouts are checked: Node's request and header timeouts, and stalled readers.
    const checkEveryMs = Math.min(1_000, Math.max(10, Math.floor(Math.min(cfg.clientTimeoutMs, cfg.limits.headersTimeoutMs) / 4)));
    this.server = http.createServer(
      {
        maxHeaderSize: cfg.limits.maxHeaderBytes,
        headersTimeout: Math.min(cfg.limits.headersTimeoutMs, cfg.clientTimeoutMs),
        requestTimeout: cfg.clientTimeoutMs,
        requireHostHeader: false, // checked (with a coded answer) by checkRequest
        connectionsCheckingInterval: checkEveryMs,
      },
      (req, res) => this.onRequest(req, res),
    );
    this.server.maxHeadersCount = cfg.limits.maxHeaderCount + 1;
    this.stalledClients = new StalledClients(this.connections, cfg.clientTimeoutMs, checkEveryMs, (socket, connection) => this.onStalled(socket, connection));
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => this.onClientError(err, socket));
    this.server.on('connection', (socket: Socket) => {
      // Every field from the start: all connections share one object shape (monomorphic accesses).
      this.connections.set(socket, { address: clientAddress(socket), current: undefined, stalledSince: undefined, deliveredWhenStalled: undefined });
      socket.once('close', () => this.connections.delete(socket));
    });
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.cfg.port, this.cfg.host, () => {
        this.server.off('error', reject);
        const address = this.server.address();
        this.port = typeof address === 'object' && address !== null ? address.port : this.cfg.port;
        const host = this.cfg.host.includes(':') ? `[${this.cfg.host}]` : this.cfg.host;
        this.url = `http://${host}:${this.port}`;
        this.log.info({ url: this.url, origin: this.cfg.origin, cache: this.store !== undefined }, 'proxy listening');
        resolve();
      });
    });
  }

  sample(): ProxySample {
    const sample = this.stats.sample({
      busy: this.busy.sample(),
      inFlight: this.admission.inFlight,
      queueDepth: this.admission.queueDepth,
    });
    if (this.store) sample.cache = this.store.sample();
    return sample;
  }

  totals(): ProxyTotals {
    const totals = this.stats.totals();
    if (this.store) totals.cache = this.store.totals();
    const { retried, refused } = this.retryBudget.counts();
    totals.origin = { retries: retried, retriesRefused: refused, circuit: this.breaker.state, circuitOpened: this.breaker.opened };
    return totals;
  }

  isReady(): boolean {
    return this.ready;
  }

  setReady(ready: boolean): void {
    this.ready = ready;
  }

  /** Also makes the proxy not ready. `deadlineMs` is a duration. */
  drain(deadlineMs: number): Promise<{ completed: number; abandoned: number }> {
    this.ready = false;
    this.log.info({ inFlight: this.admission.inFlight, queued: this.admission.queueDepth, deadlineMs }, 'proxy draining');
    return this.admission.drain(deadlineMs);
  }

  block(address: string, untilMs: number, reason: string): void {
    this.denylist.block(address, untilMs, reason);
  }

  unblock(address: string): boolean {
    return this.denylist.unblock(address);
  }

  blocked(): BlockedClient[] {
    return this.denylist.list();
  }

  replaceBlocked(entries: BlockedClient[]): void {
    this.denylist.replace(entries);
  }

  async purge(what: CachePurge): Promise<{ purged: number }> {
    const selector = checkedPurge(what);
    return { purged: this.store?.purge(selector) ?? 0 };
  }

  close(): Promise<void> {
    this.ready = false;
    this.admission.dispose();
    this.stalledClients.stop();
    this.cache?.clear();
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
      this.forwarder.close();
    });
  }

  // ---- CacheHost ----

  upstreamHeaders(exchange: ClientExchange): http.OutgoingHttpHeaders {
    return upstreamRequestHeaders(exchange.req.headers, exchange.peer, this.originHost);
  }

  sendAdmitted(exchange: ClientExchange, request: OriginRequest, handlers: OriginHandlers): void {
    exchange.ticket = this.admission.enter({
      admitted: (waitedMs) => {
        this.stats.admitted(waitedMs);
        exchange.origin = this.forwarder.send(request, handlers);
      },
      refused: (reason) => this.shed(exchange, reason),
    });
  }

  sendDetached(request: OriginRequest, handlers: OriginHandlers): void {
    if (this.admission.draining) return handlers.failed('GOV_ERR_PROXY_DRAINING');
    this.forwarder.send(request, handlers);
  }

  relay(exchange: ClientExchange, response: IncomingMessage, origin: OriginExchange, status: CacheStatus | undefined, tap?: BodyTap): void {
    const { req, res } = exchange;
    const headers = responseHeadersForClient(response.headers, req.httpVersion);
    if (status !== undefined) headers[CACHE_HEADER] = status;
    if (this.admission.draining) headers.connection = 'close';
    try {
      res.writeHead(response.statusCode ?? 502, response.statusMessage, headers);
    } catch (err) {
      this.log.debug({ err, url: req.url }, 'origin response head cannot be forwarded');
      origin.abort();
      return this.fail(exchange, 'GOV_ERR_PROXY_UPSTREAM_FAILED');
    }
    origin.stream(res, tap);
  }

  reply(exchange: ClientExchange, status: number, headers: string[], body: Buffer | undefined): void {
    const { res } = exchange;
    if (this.admission.draining) headers.push('connection', 'close');
    res.writeHead(status, headers);
    res.end(body);
    if (body !== undefined) this.stats.addBytesOut(body.length);
  }

  fail(exchange: ClientExchange, code: ResponseErrorCode): void {
    const { res } = exchange;
    this.stats.failed(code);
    exchange.endedByProxy = true;
    if (res.headersSent || res.destroyed) {
      res.destroy();
      return;
    }
    const retryAfterSeconds = code === 'GOV_ERR_PROXY_CIRCUIT_OPEN' ? Math.max(1, Math.ceil(this.breaker.retryAfterMs() / 1000)) : undefined;
    const closeConnection = this.admission.draining || code === 'GOV_ERR_PROXY_BODY_TOO_LARGE';
    this.stats.addBytesOut(sendErrorResponse(res, code, { retryAfterSeconds, closeConnection }));
  }

  // ---- requests ----

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const connection = this.connections.get(req.socket);
    const peer = connection?.address ?? clientAddress(req.socket);
    const address = this.trustedProxies.clientAddress(peer, req.headers['x-forwarded-for']);
    this.stats.received(address);
    const now = Date.now();
    const exchange: ClientExchange = {
      req,
      res,
      path: targetPath(req.url ?? '/', req.method) ?? '/',
      address,
      peer,
      deadlineAt: now + this.cfg.deadlines.totalMs,
      endedByProxy: false,
      ticket: undefined,
      origin: undefined,
    };
    this.dispatch(exchange, now);
    // A response written whole to the socket already (most hits and refusals) is counted now;
    // any other is watched until it closes. One listener less per hit is measurably faster.
    if (res.writableFinished) this.stats.responded(res.statusCode);
    else this.watch(exchange, connection);
  }

  /** Checks, then answers `exchange` (arrived at epoch ms `now`): a refusal, the cache, or the origin. */
  private dispatch(exchange: ClientExchange, now: number): void {
    const { req } = exchange;
    if (this.denylist.check(exchange.address) !== undefined) return this.refuse(exchange, 'GOV_ERR_PROXY_BLOCKED');
    const invalid = checkRequest(req, this.cfg.limits);
    if (invalid !== undefined) return this.refuse(exchange, invalid);
    if (this.admission.draining) return this.shed(exchange, 'draining');
    const method = req.method ?? 'GET';
    const withBody = hasBody(req);
    if (withBody) this.watchBody(exchange);
    if (this.cache !== undefined && !withBody && (method === 'GET' || method === 'HEAD')) return this.cache.handle(exchange, now);
    this.pass(exchange, method, withBody);
  }

  /**
   * Makes `exchange` its connection's response in progress (seen by the stalled-client sweep and
   * client errors) until its response closes, when its admission ticket and origin request end
   * and it is counted. Registered before any event of the response can fire ('close' is emitted
   * on a later tick).
   */
  private watch(exchange: ClientExchange, connection: Connection | undefined): void {
    if (connection !== undefined) connection.current = exchange;
    exchange.res.on('close', () => this.onResponseClosed(exchange, connection));
  }

  /** A request the cache does not answer: to the origin; a successful unsafe method invalidates what it names. */
  private pass(exchange: ClientExchange, method: string, withBody: boolean): void {
    const body = withBody ? exchange.req : undefined;
    const request: OriginRequest = {
      method,
      path: exchange.path,
      headers: this.upstreamHeaders(exchange),
      body,
      deadlineAt: exchange.deadlineAt,
      retryable: body === undefined && IDEMPOTENT_METHODS.has(method),
      client: exchange,
    };
    const invalidates = this.store !== undefined && !SAFE_METHODS.has(method);
    this.sendAdmitted(exchange, request, {
      response: (response, origin) => {
        if (invalidates && (response.statusCode ?? 500) < 400) this.invalidate(exchange, response);
        this.relay(exchange, response, origin, undefined);
      },
      failed: (code) => this.fail(exchange, code),
    });
  }

  /** RFC 9111 section 4.4: the target URI, and Location / Content-Location when they name this site. */
  private invalidate(exchange: ClientExchange, response: IncomingMessage): void {
    const keys = new Set([exchange.path]);
    for (const name of ['location', 'content-location'] as const) {
      const value = response.headers[name];
      if (typeof value !== 'string') continue;
      const key = sameSiteKey(value, exchange.req.headers.host, this.originHost);
      if (key !== undefined) keys.add(key);
    }
    for (const key of keys) {
      this.store?.invalidate(key);
      this.onInvalidate?.(key);
    }
  }

  /** Counts request body bytes; a chunked body over limits.maxBodyBytes ends the exchange with 413 (or a cut). */
  private watchBody(exchange: ClientExchange): void {
    const { req } = exchange;
    const limit = this.cfg.limits.maxBodyBytes;
    let received = 0;
    const onData = (chunk: Buffer): void => {
      this.stats.addBytesIn(chunk.length);
      received += chunk.length;
      if (received <= limit) return;
      req.off('data', onData);
      req.unpipe();
      exchange.origin?.abort();
      this.fail(exchange, 'GOV_ERR_PROXY_BODY_TOO_LARGE');
    };
    req.on('data', onData);
  }

  private onResponseClosed(exchange: ClientExchange, connection: Connection | undefined): void {
    const { req, res } = exchange;
    exchange.ticket?.leave();
    exchange.origin?.abort();
    if (connection?.current === exchange) connection.current = undefined;
    if (res.headersSent) this.stats.responded(res.statusCode);
    // A connection reset while an ended response was still being sent also 'finishes' it (Node
    // reports the failed write as its last): the socket's error tells that one apart.
    const completed = res.writableFinished && req.socket.errored === null;
    if (!completed && !exchange.endedByProxy) this.stats.failed('GOV_ERR_PROXY_CLIENT_GONE');
  }

  /** Answers a request refused by a check with its code; the connection closes (the rest of the request may be unread). */
  private refuse(exchange: ClientExchange, code: ResponseErrorCode): void {
    this.stats.failed(code);
    this.stats.addBytesOut(sendErrorResponse(exchange.res, code, { closeConnection: true }));
  }

  /** Admission refused: 503 with Retry-After. */
  private shed(exchange: ClientExchange, reason: Refusal): void {
    const code = REFUSAL_CODES[reason];
    this.stats.wasShed();
    this.stats.failed(code);
    const bytes = sendErrorResponse(exchange.res, code, {
      retryAfterSeconds: this.cfg.retryAfterSeconds,
      closeConnection: this.admission.draining,
    });
    this.stats.addBytesOut(bytes);
  }

  /** Node's parser rejected what the client sent (malformed, too large, too slow): a coded answer, then close. */
  private onClientError(err: NodeJS.ErrnoException, socket: Socket): void {
    const current = this.connections.get(socket)?.current;
    // A client that closed mid-request (EOF) has gone: nobody to answer; its response's close counts it.
    if (err.code === 'ECONNRESET' || err.code === 'HPE_INVALID_EOF_STATE' || !socket.writable || current?.res.headersSent === true) {
      socket.destroy();
      return;
    }
    const code = clientErrorCode(err);
    if (current === undefined) this.stats.received(clientAddress(socket));
    else current.endedByProxy = true;
    this.stats.failed(code);
    this.stats.responded(STATUS_OF_CODE[code]);
    socket.end(rawErrorResponse(code));
    socket.destroySoon();
  }

  /** The client took nothing of its response for clientTimeoutMs: disconnected, counted (its origin request is aborted when the response closes). */
  private onStalled(socket: Socket, connection: Connection): void {
    this.stats.failed('GOV_ERR_PROXY_CLIENT_TIMEOUT');
    if (connection.current !== undefined) connection.current.endedByProxy = true;
    socket.destroy();
  }
}

/** A client connection: the request in progress, its peer's address, and the stalled-client sweep's notes. */
interface Connection extends WatchedConnection {
  /** The exchange whose response is in progress (one not written whole at once), if any. */
  current?: ClientExchange;
  /** clientAddress(socket): the peer (a client, or a trusted proxy), once per connection rather than per request. */
  address: string;
}

/** The cache key a Location / Content-Location value names on this site, if it does. */
function sameSiteKey(value: string, clientHost: string | undefined, originHost: string): string | undefined {
  if (value.startsWith('/')) return targetPath(value, 'GET');
  try {
    const url = new URL(value);
    if (url.host !== clientHost && url.host !== originHost) return undefined;
    return url.pathname + url.search;
  } catch {
    return undefined;
  }
}
