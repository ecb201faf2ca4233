import http, { type ClientRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { Url } from 'node:url';
import httpProxy from 'http-proxy';
import type { Logger } from 'pino';
import { classifyUpstreamError, sendErrorResponse, type ResponseErrorCode } from './coded-errors.js';
import { prepareRequestHeaders, responseHeadersForClient } from './headers.js';

export interface ForwarderOptions {
  origin: URL;
  /** Connections to the origin at most (the agent's maxSockets). */
  maxSockets: number;
  upstreamTimeoutMs: number;
  log: Logger;
  /** Whether responses should carry `Connection: close` (asked when each response starts). */
  closeConnections(): boolean;
  /** Where byte counts and upstream failures are reported. */
  observer: ForwardObserver;
}

export interface ForwardObserver {
  bytesIn(bytes: number): void;
  bytesOut(bytes: number): void;
  /** The request to the origin failed: `res` is answered with 502/504 or, once headers were sent, cut. */
  upstreamFailed(code: ResponseErrorCode, res: ServerResponse): void;
}

/** One client request on its way through the origin. */
interface Exchange {
  req: IncomingMessage;
  res: ServerResponse;
  /** waiting: for the origin's response head; streaming: its body; done: finished, failed or abandoned. */
  state: 'waiting' | 'streaming' | 'done';
  /** Known once the agent gives it a socket (http-proxy's `proxyReq` event). */
  upstream?: ClientRequest;
  /** Fires when the origin has been silent for upstreamTimeoutMs; refreshed by every sign of life. */
  silence: NodeJS.Timeout;
}

/**
 * Sends admitted requests to the origin through http-proxy over a keep-alive agent, and handles
 * what http-proxy 1.18 leaves to its user:
 * - the upstream request is destroyed when the client goes away before its response is complete
 *   (http-proxy listens for the request's 'aborted' event, which Node >= 15.5 no longer emits for
 *   a fully received request: http-party/node-http-proxy#1559), including when that happens
 *   before the agent has handed the upstream request a socket;
 * - hop-by-hop headers (and Trailer, and Expect) are removed both ways, so a `Trailer` header
 *   cannot make Node throw ERR_HTTP_TRAILER_INVALID out of a stream callback (#1647);
 * - every error goes to a callback (http-proxy emits 'error' otherwise, fatal without a listener),
 *   and origin errors are classified: refused and reset give 502, silence gives 504;
 * - the response is written by this module (`selfHandleResponse`), so an origin that resets
 *   mid-body cuts the client response instead of leaving it open;
 * - the timeout is the proxy's own, so a timeout is told apart from a reset (`proxyTimeout`
 *   reports both as ECONNRESET: #1331).
 */
export class Forwarder {
  private readonly proxy: httpProxy;
  private readonly agent: http.Agent;
  private readonly exchanges = new WeakMap<IncomingMessage, Exchange>();

  constructor(private readonly options: ForwarderOptions) {
    const { origin, maxSockets } = options;
    const secure = origin.protocol === 'https:';
    const agentOptions = { keepAlive: true, maxSockets, maxFreeSockets: maxSockets };
    this.agent = secure ? new https.Agent(agentOptions) : new http.Agent(agentOptions);
    const target: Partial<Url> = {
      protocol: origin.protocol,
      host: origin.hostname,
      hostname: origin.hostname.replace(/^\[|\]$/g, ''),
      port: origin.port || (secure ? '443' : '80'),
      path: origin.pathname === '/' ? '' : origin.pathname,
    };
    this.proxy = httpProxy.createProxyServer({
      target,
      agent: this.agent,
      xfwd: true,
      changeOrigin: true,
      selfHandleResponse: true,
    });
    this.proxy.on('proxyReq', (upstream: ClientRequest, req: IncomingMessage) => this.onUpstreamRequest(upstream, req));
    this.proxy.on('proxyRes', (proxyRes: IncomingMessage, req: IncomingMessage) => this.onUpstreamResponse(proxyRes, req));
  }

  /** Sends an admitted request on. The response is complete, cut or answered with an error when `res` closes. */
  forward(req: IncomingMessage, res: ServerResponse): void {
    prepareRequestHeaders(req.headers);
    const exchange: Exchange = {
      req,
      res,
      state: 'waiting',
      silence: setTimeout(() => this.onSilence(exchange), this.options.upstreamTimeoutMs),
    };
    this.exchanges.set(req, exchange);
    res.once('close', () => {
      if (!res.writableFinished) this.fail(exchange, 'client-gone');
      else this.finish(exchange);
    });
    const onError = (err: unknown): void => {
      if (exchange.state === 'done') return;
      this.options.log.debug({ err, url: req.url }, 'origin request failed');
      this.fail(exchange, classifyUpstreamError(err));
    };
    try {
      this.proxy.web(req, res, {}, onError);
    } catch (err) {
      onError(err); // http.request throws on what it cannot send; never let that out of a request handler
    }
    req.on('data', (chunk: Buffer) => this.options.observer.bytesIn(chunk.length));
  }

  /** Closes the origin connections. Requests still going are cut. */
  close(): void {
    this.agent.destroy();
  }

  private onUpstreamRequest(upstream: ClientRequest, req: IncomingMessage): void {
    const exchange = this.exchanges.get(req);
    if (exchange === undefined || exchange.state === 'done') {
      upstream.destroy();
      return;
    }
    exchange.upstream = upstream;
  }

  private onUpstreamResponse(proxyRes: IncomingMessage, req: IncomingMessage): void {
    const exchange = this.exchanges.get(req);
    if (exchange === undefined || exchange.state !== 'waiting') {
      proxyRes.destroy();
      return;
    }
    const { res } = exchange;
    exchange.state = 'streaming';
    exchange.silence.refresh();
    const headers = responseHeadersForClient(proxyRes.headers, req.httpVersion);
    if (this.options.closeConnections()) headers.connection = 'close';
    try {
      res.writeHead(proxyRes.statusCode ?? 502, proxyRes.statusMessage, headers);
    } catch (err) {
      this.options.log.debug({ err, url: req.url }, 'origin response head cannot be forwarded');
      proxyRes.destroy();
      this.fail(exchange, 'GOV_ERR_PROXY_UPSTREAM_FAILED');
      return;
    }
    // Registered before pipe's own listeners: an origin failure is classified before it closes `res`.
    proxyRes.once('error', (err) => {
      if (exchange.state === 'done') return;
      this.options.log.debug({ err, url: req.url }, 'origin response cut');
      this.fail(exchange, classifyUpstreamError(err));
    });
    proxyRes.on('data', (chunk: Buffer) => {
      this.options.observer.bytesOut(chunk.length);
      exchange.silence.refresh();
    });
    proxyRes.pipe(res);
  }

  /** The origin said nothing for upstreamTimeoutMs (unless it is the client that does not read). */
  private onSilence(exchange: Exchange): void {
    if (exchange.state === 'streaming' && exchange.res.writableNeedDrain) {
      exchange.silence.refresh();
      return;
    }
    this.options.log.debug({ url: exchange.req.url, state: exchange.state }, 'origin timed out');
    this.fail(exchange, 'GOV_ERR_PROXY_UPSTREAM_TIMEOUT');
  }

  private finish(exchange: Exchange): void {
    if (exchange.state === 'done') return;
    exchange.state = 'done';
    clearTimeout(exchange.silence);
    this.exchanges.delete(exchange.req);
  }

  /**
   * Ends an exchange that went wrong: the upstream request is destroyed (now, or as soon as it gets
   * a socket) and the client gets a coded error if no header went out yet, else a cut response.
   */
  private fail(exchange: Exchange, reason: ResponseErrorCode | 'client-gone'): void {
    if (exchange.state === 'done') return;
    this.finish(exchange);
    exchange.upstream?.destroy();
    if (reason === 'client-gone') return;
    const { res } = exchange;
    this.options.observer.upstreamFailed(reason, res);
    if (res.headersSent || res.destroyed) {
      res.destroy();
      return;
    }
    this.options.observer.bytesOut(sendErrorResponse(res, reason, { closeConnection: this.options.closeConnections() }));
  }
}
