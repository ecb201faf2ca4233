import http, { type ClientRequest, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { BreakerPermit, CircuitBreaker } from './breaker.js';
import { classifyUpstreamError, type ResponseErrorCode } from './coded-errors.js';
import type { RetryBudget } from './retry-budget.js';

export interface ForwarderOptions {
  origin: URL;
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
 * Sends requests to the origin over a keep-alive connection pool (Node's http.request directly: no
 * per-request layers between the client and the origin), and owns what can go wrong there:
 * - every attempt needs a permit from the circuit breaker, and reports to it how it went;
 * - an attempt that failed before any byte went out (no connection, refused, connect timeout)
 *   is retried when the request is retryable, up to maxRetries, while the retry budget allows
 *   and the deadline has not passed;
 * - deadlines: connectMs to connect, upstreamTimeoutMs of silence before the head and between body
 *   chunks (unless the client is the one not reading), and the request's total deadline for the
 *   head; all as the origin socket's own idle timeout, so that no per-request timer or registry
 *   exists (per-request objects held by long-lived structures get promoted by the garbage
 *   collector, which measured at several times the proxy's whole per-request cost);
 * - the body is streamed to the client; an origin failure mid-body cuts the client response
 *   (never a truncated response that looks complete).
 */
export class Forwarder {
  private readonly agent: http.Agent;
  private readonly request: typeof http.request;
  private readonly host: string;
  private readonly port: number;
  private readonly pathPrefix: string;

  constructor(readonly options: ForwarderOptions) {
    const { origin, maxSockets } = options;
    const secure = origin.protocol === 'https:';
    const agentOptions: http.AgentOptions = { keepAlive: true, maxSockets, maxFreeSockets: maxSockets, scheduling: 'lifo' };
    this.agent = secure ? new https.Agent(agentOptions) : new http.Agent(agentOptions);
    this.request = secure ? https.request : http.request;
    this.host = origin.hostname.replace(/^\[|\]$/g, '');
    this.port = Number(origin.port || (secure ? 443 : 80));
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

  /** @internal Starts one attempt on the pool. */
  open(request: OriginRequest, onResponse: (response: IncomingMessage) => void): ClientRequest {
    const path = request.path === '*' ? '*' : this.pathPrefix + request.path;
    return this.request({ agent: this.agent, host: this.host, port: this.port, method: request.method, path, headers: request.headers }, onResponse);
  }
}

type Phase = 'pending' | 'connecting' | 'waiting' | 'streaming' | 'done';

/** One request on its way to and back from the origin, over one or more attempts. */
export class OriginExchange {
  private phase: Phase = 'pending';
  private upstream: ClientRequest | undefined;
  private response: IncomingMessage | undefined;
  private permit: BreakerPermit | undefined;
  private retries = 0;
  private client: ServerResponse | undefined;
  private streamDone: ((outcome: StreamOutcome) => void) | undefined;

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
    let upstream: ClientRequest;
    try {
      upstream = this.forwarder.open(this.request, (response) => this.onResponse(upstream, response));
    } catch (err) {
      // http.request throws on what it cannot send (an invalid header value); nothing went out.
      this.forwarder.options.log.debug({ err, path: this.request.path }, 'origin request not sendable');
      this.permit.abandoned();
      return this.fail('GOV_ERR_PROXY_UPSTREAM_FAILED');
    }
    this.upstream = upstream;
    upstream.on('socket', (socket: Socket) => this.onSocket(upstream, socket));
    upstream.on('error', (err) => this.onAttemptError(upstream, err));
    upstream.on('timeout', () => this.onTimeout(upstream));
    if (this.request.body === undefined) upstream.end();
    else this.request.body.pipe(upstream);
  }

  /**
   * Streams the origin response body to `res` (whose head the caller wrote), also to `tap` when
   * given; without `res`, only to `tap`. Resolves how it ended; an origin failure mid-body
   * destroys `res` (a cut response).
   */
  stream(res: ServerResponse | undefined, tap?: BodyTap): Promise<StreamOutcome> {
    const response = this.response;
    if (response === undefined || this.phase !== 'waiting') throw new Error('stream() needs a response head not yet streamed');
    this.phase = 'streaming';
    this.client = res;
    const { bytesOut, upstreamTimeoutMs } = this.forwarder.options;
    this.upstream?.setTimeout(upstreamTimeoutMs);
    return new Promise((resolve) => {
      this.streamDone = resolve;
      response.on('data', (chunk: Buffer) => {
        if (res !== undefined) bytesOut(chunk.length);
        tap?.data(chunk);
      });
      response.once('end', () => {
        if (this.phase !== 'streaming') return;
        if (response.complete) tap?.end();
        this.finish({ ended: 'ok' });
      });
      response.once('error', (err) => this.onStreamError(err));
      if (res === undefined) response.resume();
      else response.pipe(res);
    });
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
      if (this.client?.writableNeedDrain) {
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
    upstream.setTimeout(Math.max(1, Math.min(phaseMs, this.request.deadlineAt - Date.now())));
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

  private onAttemptError(upstream: ClientRequest, err: Error): void {
    if (upstream !== this.upstream || this.phase === 'done') return;
    if (this.phase === 'streaming') return this.onStreamError(err);
    if (this.response !== undefined) return; // the handler owns the response; its own 'error' reports
    this.forwarder.options.log.debug({ err, path: this.request.path }, 'origin request failed');
    const nothingSent = this.phase === 'pending' || this.phase === 'connecting';
    this.attemptFailed(classifyUpstreamError(err), nothingSent);
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
    this.forwarder.options.cut(code, this.client);
    this.upstream?.destroy();
    this.client?.destroy();
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
