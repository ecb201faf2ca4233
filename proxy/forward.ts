import http, { type ClientRequest, type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Stream } from 'node:stream';
import type { Url } from 'node:url';
import type https from 'node:https';
import httpProxy from 'http-proxy';
import type { Logger } from 'pino';
import type { BreakerPermit, CircuitBreaker } from './breaker.js';
import { classifyUpstreamError, type ResponseErrorCode } from './coded-errors.js';
import { leanAgent } from './lean-agent.js';
import type { RetryBudget } from './retry-budget.js';

export interface ForwarderOptions {
  origin: URL;
  /** PEM authorities an https origin's certificate must chain to (the agent's `ca`); default: Node's bundled ones. */
  originCa?: string;
  /** Connections to the origin at most (the agent's maxSockets). */
  maxSockets: number;
  /** The longest the origin may stay silent: before its response head, or between body chunks. */
  upstreamTimeoutMs: number;
  connectMs: number;
  maxRetries: number;
  breaker: CircuitBreaker;
  retryBudget: RetryBudget;
  log: Logger;
  /** Response body bytes streamed to clients. */
  bytesOut(bytes: number): void;
  /** An origin failure cut a response mid-body; called before `res` (if any) is destroyed. */
  cut(code: ResponseErrorCode, res: ServerResponse | undefined): void;
}

/** One request for the origin. */
export interface OriginRequest {
  method: string;
  /** Origin-form path and query as the client asked (the origin URL's path is put before it). */
  path: string;
  headers: OutgoingHttpHeaders;
  /** The client's request body to stream up; undefined for a request without a body. */
  body?: IncomingMessage;
  /**
   * The client exchange this request is made for: http-proxy proxies from an incoming request and
   * its response (a background revalidation passes the request that triggered it). Its method,
   * path and headers are not used: the fields above are what the origin gets.
   */
  client: { req: IncomingMessage; res: ServerResponse };
  /** Epoch ms by which the origin's response head must have arrived (deadlines.totalMs from arrival). */
  deadlineAt: number;
  /** Idempotent and without a body: may be sent again when an attempt failed before any byte went out. */
  retryable: boolean;
}

export interface OriginHandlers {
  /** The origin's response head arrived: the handler owns `response` and must stream, consume or destroy it. */
  response(response: IncomingMessage, exchange: OriginExchange): void;
  /** No response head: refused, reset, timed out, deadline passed or circuit open. Nothing was written to the client. */
  failed(code: ResponseErrorCode): void;
}

/** What a streamed body is also given to (the cache's copy). */
export interface BodyTap {
  data(chunk: Buffer): void;
  /** The whole body arrived. */
  end(): void;
}

export interface StreamOutcome {
  /** ok: the whole body went out; cut: the origin failed mid-body (code set); gone: the client left. */
  ended: 'ok' | 'cut' | 'gone';
  code?: ResponseErrorCode;
}

/** Statuses that count as the origin failing (for the circuit breaker), besides connection errors and timeouts. */
const FAILURE_STATUSES = new Set([502, 503, 504]);

/**
 * Sends requests to the origin through http-proxy (`proxy.web` with `selfHandleResponse`) over a
 * keep-alive agent, and owns what can go wrong there:
 * - every attempt needs a permit from the circuit breaker, and reports to it how it went;
 * - an attempt that failed before any byte went out (no connection, refused, connect timeout)
 *   is retried when the request is retryable, up to maxRetries, while the retry budget allows
 *   and the deadline has not passed: `proxy.web` is called again;
 * - deadlines: connectMs to connect, upstreamTimeoutMs of silence before the head and between body
 *   chunks (unless the client is the one not reading), and the request's total deadline for the
 *   head; all as the origin socket's own idle timeout, never http-proxy's `proxyTimeout`, which
 *   reports a timeout as ECONNRESET (http-party/node-http-proxy#1331), and without any
 *   per-request timer or registry (per-request objects held by long-lived structures get
 *   promoted by the garbage collector, which measured at several times the proxy's whole
 *   per-request cost);
 * - the body is streamed to the client; an origin failure mid-body cuts the client response
 *   (never a truncated response that looks complete).
 *
 * What http-proxy 1.18 leaves to its user, handled here:
 * - the origin request is destroyed when the client goes away (`abort()`, called by the owner
 *   when the client response closes): http-proxy relies on the request's 'aborted' event, which
 *   Node >= 15.5 does not emit for a fully received request (#1559), so without this every
 *   abandoned request kept an origin connection until the origin answered;
 * - every `proxy.web` call has an error callback (without one http-proxy emits 'error', which
 *   throws without a listener); an error http-proxy swallows instead (an ECONNRESET while the
 *   incoming request's socket is destroyed: it only emits 'econnreset') still ends the attempt,
 *   by the origin request's 'close';
 * - headers: http-proxy copies the incoming request's headers into the origin request while
 *   `web()` runs (common.setupOutgoing), so the request's headers are lent, for that synchronous
 *   call only, the ones computed for the origin (hop-by-hop and Trailer removed: #1647, #1261;
 *   X-Forwarded-*). Editing them in the 'proxyReq' event instead throws ERR_HTTP_HEADERS_SENT
 *   when the agent hands out the socket after the body ended, or with Expect (#1168, #1328);
 * - the path: http-proxy joins paths with a regex that collapses `//` in path and query
 *   (#775, #959); the origin request gets the client's path verbatim;
 * - bodies: http-proxy's deleteLength pass rewrites a chunked DELETE or OPTIONS body to
 *   `Content-Length: 0` and sends the body anyway, which the origin reads as a second request
 *   (#1343, #960); that pass is removed and Node frames bodies by the forwarded headers.
 * The origin request is taken from http-proxy through its `buffer` option: http-proxy pipes
 * `buffer` into the origin request right after creating it, before its head is written. The
 * option is set on the proxy's own options object for the synchronous `web()` call only, and the
 * method is lent on the incoming request like the headers: per-call options would make
 * http-proxy copy its whole options object for every request.
 */
export class Forwarder {
  private readonly agent: http.Agent;
  /** The options object http-proxy reads at every `web()` call (its own, not a copy). */
  private readonly proxyOptions: httpProxy.ServerOptions;
  /** http-proxy's `web(req, res, callback)`: the form without per-call options, which its code takes and its typings do not list. */
  private readonly web: (req: IncomingMessage, res: ServerResponse, onError: (err: Error) => void) => void;
  private readonly pathPrefix: string;

  constructor(readonly options: ForwarderOptions) {
    const { origin, originCa, maxSockets } = options;
    const secure = origin.protocol === 'https:';
    const agentOptions: https.AgentOptions = { keepAlive: true, maxSockets, maxFreeSockets: maxSockets, scheduling: 'lifo', ...(originCa === undefined ? {} : { ca: originCa }) };
    this.agent = leanAgent(secure, agentOptions);
    const target: Partial<Url> = {
      protocol: origin.protocol,
      host: origin.hostname,
      hostname: origin.hostname.replace(/^\[|\]$/g, ''),
      port: origin.port || (secure ? '443' : '80'),
    };
    this.proxyOptions = { target, agent: this.agent, selfHandleResponse: true };
    const server = httpProxy.createProxyServer(this.proxyOptions) as httpProxy & { webPasses: Array<{ name: string }> };
    this.web = (server.web as unknown as Forwarder['web']).bind(server);
    // deleteLength breaks chunked DELETE/OPTIONS bodies (#1343); the passes array is http-proxy's own list.
    server.webPasses = server.webPasses.filter((pass) => pass.name !== 'deleteLength');
    this.pathPrefix = origin.pathname.replace(/\/$/, '');
  }

  /** Sends `request`; exactly one handler is called, unless the exchange is aborted first. */
  send(request: OriginRequest, handlers: OriginHandlers): OriginExchange {
    const exchange = new OriginExchange(this, request, handlers);
    exchange.attempt();
    return exchange;
  }

  /** Closes the origin connections. Requests still going are cut. */
  close(): void {
    this.agent.destroy();
  }

  /**
   * @internal Starts one attempt through http-proxy: `source.pipe` receives the origin request
   * synchronously, before its head is written; `onError` gets http-proxy's errors for it. Throws
   * what http.request throws on what it cannot send (an invalid header value): nothing went out.
   */
  open(request: OriginRequest, source: UpstreamSource, onError: (err: Error) => void): void {
    const { req, res } = request.client;
    const ownHeaders = req.headers;
    const ownMethod = req.method;
    // Lent for the synchronous web() call only: http-proxy copies them into the origin request.
    req.headers = request.headers as IncomingHttpHeaders;
    req.method = request.method;
    this.proxyOptions.buffer = source as unknown as Stream;
    try {
      this.web(req, res, onError);
    } finally {
      req.headers = ownHeaders;
      req.method = ownMethod;
      this.proxyOptions.buffer = undefined;
    }
  }

  /** The path the origin is asked for: the origin URL's path, then the client's path and query verbatim. */
  pathOf(request: OriginRequest): string {
    return request.path === '*' ? '*' : this.pathPrefix + request.path;
  }
}

/** What http-proxy's `buffer` option is used as: it is piped into each origin request as that is created. */
interface UpstreamSource {
  pipe(upstream: ClientRequest): ClientRequest;
}

type Phase = 'pending' | 'connecting' | 'waiting' | 'streaming' | 'done';

/** One request on its way to and back from the origin, over one or more attempts. */
export class OriginExchange {
  private phase: Phase = 'pending';
  private upstream: ClientRequest | undefined;
  private response: IncomingMessage | undefined;
  private permit: BreakerPermit | undefined;
  private retries = 0;
  /** Where the response body streams (undefined: only to a tap). */
  private sink: ServerResponse | undefined;
  private readonly source: UpstreamSource = { pipe: (upstream) => this.onUpstream(upstream) };
  private streamDone: ((outcome: StreamOutcome) => void) | undefined;
  /** The origin socket's idle timeout this attempt armed last (ms). */
  private armedMs = 0;

  constructor(
    private readonly forwarder: Forwarder,
    private readonly request: OriginRequest,
    private readonly handlers: OriginHandlers,
  ) {}

  /** @internal */
  attempt(): void {
    if (Date.now() >= this.request.deadlineAt) return this.fail('GOV_ERR_PROXY_DEADLINE');
    this.permit = this.forwarder.options.breaker.tryAcquire();
    if (this.permit === undefined) return this.fail('GOV_ERR_PROXY_CIRCUIT_OPEN');
    if (this.retries === 0) this.forwarder.options.retryBudget.recordRequest();
    this.phase = 'pending';
    this.upstream = undefined;
    const attempt = this.retries;
    try {
      this.forwarder.open(this.request, this.source, (err) => {
        if (attempt === this.retries) this.onAttemptError(err);
      });
    } catch (err) {
      this.forwarder.options.log.debug({ err, path: this.request.path }, 'origin request not sendable');
      this.permit.abandoned();
      return this.fail('GOV_ERR_PROXY_UPSTREAM_FAILED');
    }
  }

  /** The origin request of the current attempt, as http-proxy created it: the head is not written yet. */
  private onUpstream(upstream: ClientRequest): ClientRequest {
    this.upstream = upstream;
    upstream.path = this.forwarder.pathOf(this.request);
    upstream.on('socket', (socket: Socket) => this.onSocket(upstream, socket));
    upstream.on('timeout', () => this.onTimeout(upstream));
    upstream.once('response', (response: IncomingMessage) => this.onResponse(upstream, response));
    upstream.once('close', () => this.onUpstreamClosed(upstream));
    if (this.request.body === undefined) upstream.end();
    else this.request.body.pipe(upstream);
    return upstream;
  }

  /**
   * Streams the origin response body to `res` (whose head the caller wrote), also to `tap` when
   * given; without `res`, only to `tap`. `done`, when given, is called once with how it ended; an
   * origin failure mid-body destroys `res` (a cut response).
   */
  stream(res: ServerResponse | undefined, tap?: BodyTap, done?: (outcome: StreamOutcome) => void): void {
    const response = this.response;
    if (response === undefined || this.phase !== 'waiting') throw new Error('stream() needs a response head not yet streamed');
    this.phase = 'streaming';
    this.sink = res;
    this.streamDone = done;
    const { bytesOut, upstreamTimeoutMs } = this.forwarder.options;
    // The socket's idle timeout is already upstreamTimeoutMs unless the deadline shortened it.
    if (this.armedMs !== upstreamTimeoutMs) this.upstream?.setTimeout(upstreamTimeoutMs);
    // The body is relayed by these two listeners rather than response.pipe(res): pipe adds six
    // listeners to the two streams and removes them again at the end, which measured about 10% of
    // a 1 KiB miss (callgrind). What pipe would do on the client's close or error is done by
    // abort() and cutStream(); backpressure is the same (pause until the client drains).
    response.on('data', (chunk: Buffer) => {
      tap?.data(chunk);
      if (res === undefined) return;
      bytesOut(chunk.length);
      if (!res.write(chunk)) {
        response.pause();
        res.once('drain', () => response.resume());
      }
    });
    response.once('end', () => {
      if (this.phase !== 'streaming') return;
      if (response.complete) tap?.end();
      this.finish({ ended: 'ok' });
      res?.end();
    });
    response.once('error', (err) => this.onStreamError(err));
  }

  /** Reads and discards the response body (a 304 or an error answered otherwise), freeing the connection. */
  discard(): void {
    const response = this.response;
    if (response === undefined) return;
    this.phase = 'done';
    response.on('error', () => undefined);
    response.resume();
  }

  /** The client went away or the caller gave up: the origin request is destroyed, nothing else is called. */
  abort(): void {
    if (this.phase === 'done') return;
    const streaming = this.phase === 'streaming';
    this.end();
    this.permit?.abandoned();
    this.upstream?.destroy();
    if (streaming) this.settleStream({ ended: 'gone' });
  }

  /** The origin socket was idle for the current phase's timeout. */
  private onTimeout(upstream: ClientRequest): void {
    if (upstream !== this.upstream || this.phase === 'done') return;
    if (this.phase === 'streaming') {
      if (this.sink?.writableNeedDrain) {
        // The client is the one not reading (its own timeout applies); keep waiting on the origin.
        upstream.setTimeout(this.forwarder.options.upstreamTimeoutMs);
        return;
      }
      return this.cutStream('GOV_ERR_PROXY_UPSTREAM_TIMEOUT');
    }
    if (this.response !== undefined) return; // the handler has the head; streaming sets its own timeout
    if (Date.now() >= this.request.deadlineAt) return this.attemptFailed('GOV_ERR_PROXY_DEADLINE', false);
    if (this.phase === 'connecting') return this.attemptFailed('GOV_ERR_PROXY_CONNECT_TIMEOUT', true);
    return this.attemptFailed('GOV_ERR_PROXY_UPSTREAM_TIMEOUT', false);
  }

  /** Arms the socket idle timeout: `phaseMs`, or less when the total deadline comes first. */
  private arm(upstream: ClientRequest, phaseMs: number): void {
    this.armedMs = Math.max(1, Math.min(phaseMs, this.request.deadlineAt - Date.now()));
    upstream.setTimeout(this.armedMs);
  }

  private onSocket(upstream: ClientRequest, socket: Socket): void {
    if (upstream !== this.upstream || this.phase !== 'pending') return;
    const { connectMs, upstreamTimeoutMs } = this.forwarder.options;
    if (socket.connecting) {
      this.phase = 'connecting';
      this.arm(upstream, connectMs);
      socket.once('connect', () => {
        if (upstream !== this.upstream || this.phase !== 'connecting') return;
        this.phase = 'waiting';
        this.arm(upstream, upstreamTimeoutMs);
      });
    } else {
      this.phase = 'waiting';
      this.arm(upstream, upstreamTimeoutMs);
    }
  }

  private onResponse(upstream: ClientRequest, response: IncomingMessage): void {
    if (upstream !== this.upstream || (this.phase !== 'waiting' && this.phase !== 'pending' && this.phase !== 'connecting')) {
      response.destroy();
      return;
    }
    this.phase = 'waiting';
    this.response = response;
    if (FAILURE_STATUSES.has(response.statusCode ?? 0)) this.permit?.failed();
    else this.permit?.succeeded();
    this.handlers.response(response, this);
  }

  /** http-proxy's error callback for the current attempt (the origin request's errors, and the incoming request's). */
  private onAttemptError(err: Error): void {
    if (this.phase === 'done') return;
    if (this.phase === 'streaming') return this.onStreamError(err);
    if (this.response !== undefined) return; // the handler owns the response; its own 'error' reports
    this.forwarder.options.log.debug({ err, path: this.request.path }, 'origin request failed');
    const nothingSent = this.phase === 'pending' || this.phase === 'connecting';
    this.attemptFailed(classifyUpstreamError(err), nothingSent);
  }

  /** The origin request closed: after an error or a response, nothing to do; without either, an error http-proxy did not report. */
  private onUpstreamClosed(upstream: ClientRequest): void {
    if (upstream !== this.upstream || this.phase === 'done' || this.phase === 'streaming' || this.response !== undefined) return;
    this.attemptFailed('GOV_ERR_PROXY_UPSTREAM_RESET', false);
  }

  /** The current attempt failed before a response head: retry it when allowed, else fail the exchange. */
  private attemptFailed(code: ResponseErrorCode, nothingSent: boolean): void {
    this.permit?.failed();
    const upstream = this.upstream;
    this.upstream = undefined;
    upstream?.destroy();
    const { maxRetries, retryBudget } = this.forwarder.options;
    if (nothingSent && this.request.retryable && this.retries < maxRetries && Date.now() < this.request.deadlineAt && retryBudget.tryRetry()) {
      this.retries++;
      this.attempt();
      return;
    }
    this.fail(code);
  }

  private onStreamError(err: Error): void {
    if (this.phase !== 'streaming') return;
    this.forwarder.options.log.debug({ err, path: this.request.path }, 'origin response cut');
    this.cutStream(classifyUpstreamError(err));
  }

  private cutStream(code: ResponseErrorCode): void {
    this.end();
    this.forwarder.options.cut(code, this.sink);
    this.upstream?.destroy();
    this.sink?.destroy();
    this.settleStream({ ended: 'cut', code });
  }

  private finish(outcome: StreamOutcome): void {
    this.end();
    this.settleStream(outcome);
  }

  private settleStream(outcome: StreamOutcome): void {
    const done = this.streamDone;
    this.streamDone = undefined;
    done?.(outcome);
  }

  private fail(code: ResponseErrorCode): void {
    this.end();
    this.handlers.failed(code);
  }

  private end(): void {
    this.phase = 'done';
  }
}
