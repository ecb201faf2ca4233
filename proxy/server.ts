import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { pino, type Logger } from 'pino';
import type { GovernorConfig } from '../governor/config-types.js';
import { GovError } from '../governor/errors.js';
import { Admission, type Refusal } from './admission.js';
import { BusyMeter } from './busy.js';
import { sendErrorResponse, type ResponseErrorCode } from './coded-errors.js';
import { Forwarder } from './forward.js';
import { ProxyStats } from './stats.js';
import type { ProxyControl, ProxySample, ProxyTotals } from './types.js';

export type ProxyConfig = GovernorConfig['proxy'];

/** A running edge proxy: what the governor controls, plus where it listens and how to stop it. */
export interface EdgeProxy extends ProxyControl {
  /** e.g. http://127.0.0.1:8080 */
  url: string;
  port: number;
  /** Stops listening and cuts every connection, client and origin. Resolves once closed. */
  close(): Promise<void>;
}

const REFUSAL_CODES: Record<Refusal, ResponseErrorCode> = {
  'queue-full': 'GOV_ERR_PROXY_SHED',
  'queue-timeout': 'GOV_ERR_PROXY_QUEUE_TIMEOUT',
  draining: 'GOV_ERR_PROXY_DRAINING',
};

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
  const address = socket.remoteAddress ?? 'unknown';
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}

/**
 * Starts the edge proxy in front of `cfg.origin` and resolves once it listens.
 *
 * Every request is counted, then goes through admission control: at most `maxInFlight` at the
 * origin, at most `maxQueue` waiting (FIFO, at most `queueTimeoutMs`), the rest answered 503 with
 * Retry-After and a coded JSON body. Clients must send their request within `clientTimeoutMs`,
 * and a client that neither sends nor reads for that long while the proxy is not waiting on its
 * behalf is disconnected.
 */
export async function createProxy(cfg: ProxyConfig, opts: { log?: Logger } = {}): Promise<EdgeProxy> {
  const proxy = new EdgeProxyServer(cfg, parseOrigin(cfg.origin), opts.log ?? pino({ level: 'silent' }));
  await proxy.listen();
  return proxy;
}

class EdgeProxyServer implements EdgeProxy {
  url = '';
  port = 0;
  private ready = true;
  private readonly admission: Admission;
  private readonly stats: ProxyStats;
  private readonly busy = new BusyMeter();
  private readonly forwarder: Forwarder;
  private readonly server: http.Server;
  /** The response in progress on each client connection. */
  private readonly responding = new WeakMap<Socket, ServerResponse>();
  /** Bytes read from each client connection when its last response ended. */
  private readonly bytesReadBefore = new WeakMap<Socket, number>();
  /** Responses the proxy itself ended early (origin failure, client timeout): not a client going away. */
  private readonly endedByProxy = new WeakSet<ServerResponse>();

  constructor(
    private readonly cfg: ProxyConfig,
    origin: URL,
    private readonly log: Logger,
  ) {
    this.admission = new Admission(cfg);
    this.stats = new ProxyStats(cfg.maxTrackedClients);
    this.forwarder = new Forwarder({
      origin,
      maxSockets: cfg.maxInFlight,
      upstreamTimeoutMs: cfg.upstreamTimeoutMs,
      log,
      closeConnections: () => this.admission.draining,
      observer: {
        bytesIn: (bytes) => this.stats.addBytesIn(bytes),
        bytesOut: (bytes) => this.stats.addBytesOut(bytes),
        upstreamFailed: (code, res) => {
          this.stats.failed(code);
          this.endedByProxy.add(res);
        },
      },
    });
    this.server = http.createServer(
      {
        headersTimeout: cfg.clientTimeoutMs,
        requestTimeout: cfg.clientTimeoutMs,
        connectionsCheckingInterval: Math.min(1_000, Math.max(10, Math.floor(cfg.clientTimeoutMs / 4))),
      },
      (req, res) => this.onRequest(req, res),
    );
    this.server.setTimeout(cfg.clientTimeoutMs, (socket: Socket) => this.onClientIdle(socket));
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
        this.log.info({ url: this.url, origin: this.cfg.origin }, 'proxy listening');
        resolve();
      });
    });
  }

  sample(): ProxySample {
    return this.stats.sample({
      busy: this.busy.sample(),
      inFlight: this.admission.inFlight,
      queueDepth: this.admission.queueDepth,
    });
  }

  totals(): ProxyTotals {
    return this.stats.totals();
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

  close(): Promise<void> {
    this.ready = false;
    this.admission.dispose();
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
      this.forwarder.close();
    });
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    this.stats.received(clientAddress(req.socket));
    this.responding.set(req.socket, res);
    const ticket = this.admission.enter({
      admitted: (waitedMs) => {
        this.stats.admitted(waitedMs);
        this.forwarder.forward(req, res);
      },
      refused: (reason) => this.refuse(res, reason),
    });
    res.once('close', () => {
      ticket.leave();
      if (this.responding.get(req.socket) === res) this.responding.delete(req.socket);
      this.bytesReadBefore.set(req.socket, req.socket.bytesRead);
      if (res.headersSent) this.stats.responded(res.statusCode);
      if (!res.writableFinished && !this.endedByProxy.has(res)) this.stats.failed('GOV_ERR_PROXY_CLIENT_GONE');
    });
  }

  private refuse(res: ServerResponse, reason: Refusal): void {
    const code = REFUSAL_CODES[reason];
    this.stats.wasShed();
    this.stats.failed(code);
    const bytes = sendErrorResponse(res, code, {
      retryAfterSeconds: this.cfg.retryAfterSeconds,
      closeConnection: this.admission.draining,
    });
    this.stats.addBytesOut(bytes);
  }

  /**
   * The client connection saw no traffic for clientTimeoutMs. A client that does not read the
   * response in progress is disconnected (counted), and so is one that sent nothing since its
   * last response (an idle or silent connection). While a client keeps up with its response, the
   * proxy is the one waiting (queue or origin, bounded by their own timeouts); a client that sent
   * part of a request gets Node's 408 at headersTimeout / requestTimeout.
   */
  private onClientIdle(socket: Socket): void {
    const res = this.responding.get(socket);
    if (res === undefined) {
      if (socket.bytesRead === (this.bytesReadBefore.get(socket) ?? 0)) socket.destroy();
      return;
    }
    if (!res.writableNeedDrain) return;
    this.stats.failed('GOV_ERR_PROXY_CLIENT_TIMEOUT');
    this.endedByProxy.add(res);
    socket.destroy();
  }
}
