import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import type CachePolicy from 'http-cache-semantics';
import {
  createEntry,
  refreshedEntry,
  storablePolicy,
  usability,
  usableOnError,
  validatorsOf,
  type CacheEntry,
  type PolicyRequest,
} from './cache-entry.js';
import { storedReply } from './cache-serve.js';
import type { CacheStore } from './cache-store.js';
import type { ResponseErrorCode } from './coded-errors.js';
import { CACHE_HEADER, type CacheStatus, type ClientExchange } from './exchange.js';
import type { BodyTap, OriginExchange, OriginRequest, OriginHandlers } from './forward.js';

/** What the cache needs from the proxy around it. */
export interface CacheHost {
  /** The Host the origin is asked with. */
  readonly originHost: string;
  /** The client's headers as sent to the origin (hop-by-hop removed, X-Forwarded-* added). */
  upstreamHeaders(exchange: ClientExchange): OutgoingHttpHeaders;
  /** Admission, then the origin; refusals are answered by the host, and the origin request ends when the client leaves. */
  sendAdmitted(exchange: ClientExchange, request: OriginRequest, handlers: OriginHandlers): void;
  /** The origin without a client waiting (background revalidation; `request.client` is the one that triggered it), unless the proxy is draining. */
  sendDetached(request: OriginRequest, handlers: OriginHandlers): void;
  /** Writes the origin response's head (with the cache status) and streams its body to the client. */
  relay(exchange: ClientExchange, response: IncomingMessage, origin: OriginExchange, status: CacheStatus, tap?: BodyTap): void;
  /** Answers with a stored reply. */
  reply(exchange: ClientExchange, status: number, headers: string[], body: Buffer | undefined): void;
  /** Answers with a coded error. */
  fail(exchange: ClientExchange, code: ResponseErrorCode): void;
  /** Milliseconds a detached request may take to its response head. */
  readonly detachedDeadlineMs: number;
}

/** A miss being fetched: later requests for the key wait for it instead of asking the origin too. */
interface Flight {
  waiters: Array<() => void>;
}

/** Collects a body for storage, giving up (and dropping what it holds) beyond `limit` bytes. */
class BodyCollector implements BodyTap {
  private chunks: Buffer[] = [];
  private bytes = 0;
  private overflowed = false;

  constructor(
    private readonly limit: number,
    private readonly complete: (body: Buffer) => void,
    private readonly overflow: () => void,
  ) {}

  data(chunk: Buffer): void {
    if (this.overflowed) return;
    this.bytes += chunk.length;
    if (this.bytes > this.limit) {
      this.overflowed = true;
      this.chunks = [];
      this.overflow();
      return;
    }
    this.chunks.push(chunk);
  }

  end(): void {
    if (!this.overflowed) this.complete(this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.bytes));
  }
}

/**
 * The GET and HEAD path through the shared cache (RFC 9111, rules from http-cache-semantics):
 * fresh stored responses are served without the origin (and without admission: they cost the
 * origin nothing); stale ones are revalidated with their validators (a 304 refreshes them);
 * stale-while-revalidate serves the stale copy and revalidates in the background;
 * stale-if-error serves it when the origin fails. Concurrent misses for one URL make one origin
 * request (coalescing); the others wait for it and are then served from the store, or go to the
 * origin themselves when the response could not be stored. Bodies stream to the client while
 * they are copied for the store, up to cache.maxEntryBytes.
 */
export class CacheLayer {
  private readonly flights = new Map<string, Flight>();

  constructor(
    private readonly store: CacheStore,
    private readonly host: CacheHost,
    private readonly maxEntryBytes: number,
  ) {}

  /** Answers a GET or HEAD `exchange` at epoch ms `now` (from the store, or through the origin). */
  handle(exchange: ClientExchange, now: number, waited = false): void {
    const { req, path } = exchange;
    const headers = req.headers;
    const entry = this.store.lookup(path, headers);
    if (entry !== undefined) {
      const use = usability(entry, headers, now, () => this.policyRequest(exchange));
      if (use === 'fresh') return this.serve(exchange, entry, 'HIT', now);
      if (use === 'stale-while-revalidate') {
        this.serve(exchange, entry, 'STALE', now);
        return this.revalidateDetached(exchange, entry);
      }
    }
    if (entry === undefined && (req.method === 'HEAD' || headers.range !== undefined || this.store.isPass(path))) {
      return this.fetch(exchange, undefined, 'PASS');
    }
    const flight = this.flights.get(path);
    if (flight !== undefined && !waited) return this.wait(exchange, flight);
    if (flight !== undefined || waited) return this.fetch(exchange, entry, 'MISS');
    this.lead(exchange, entry);
  }

  /** Forgets in-progress coalescing (shutdown): waiters are dropped with their connections. */
  clear(): void {
    this.flights.clear();
  }

  private wait(exchange: ClientExchange, flight: Flight): void {
    let gone = false;
    exchange.res.once('close', () => (gone = true));
    flight.waiters.push(() => {
      if (!gone) this.handle(exchange, Date.now(), true);
    });
  }

  private lead(exchange: ClientExchange, entry: CacheEntry | undefined): void {
    const flight: Flight = { waiters: [] };
    this.flights.set(exchange.path, flight);
    let landed = false;
    const land = (): void => {
      if (landed) return;
      landed = true;
      if (this.flights.get(exchange.path) === flight) this.flights.delete(exchange.path);
      for (const waiter of flight.waiters) waiter();
    };
    exchange.res.once('close', land);
    this.fetch(exchange, entry, 'MISS', land);
  }

  /**
   * Asks the origin for `exchange`: conditionally when a stored `entry` is being revalidated
   * (the client's own conditionals and Range are then replaced by the entry's validators).
   * `landed` is called once the response is stored, known not storable, or failed.
   */
  private fetch(exchange: ClientExchange, entry: CacheEntry | undefined, status: CacheStatus, landed?: () => void): void {
    this.store.count('misses');
    const headers = this.host.upstreamHeaders(exchange);
    if (entry !== undefined) {
      for (const name of ['if-none-match', 'if-modified-since', 'if-range', 'range', 'if-match', 'if-unmodified-since']) delete headers[name];
      Object.assign(headers, validatorsOf(entry, this.policyRequest(exchange)));
    }
    const method = exchange.req.method ?? 'GET';
    const request: OriginRequest = { method, path: exchange.path, headers, deadlineAt: exchange.deadlineAt, retryable: true, client: exchange };
    this.host.sendAdmitted(exchange, request, {
      response: (response, origin) => this.onResponse(exchange, request, entry, status, response, origin, landed),
      failed: (code) => {
        landed?.();
        if (entry !== undefined && usableOnError(entry)) return this.reply(exchange, entry, 'STALE');
        this.host.fail(exchange, code);
      },
    });
  }

  private onResponse(
    exchange: ClientExchange,
    request: OriginRequest,
    entry: CacheEntry | undefined,
    status: CacheStatus,
    response: IncomingMessage,
    origin: OriginExchange,
    landed: (() => void) | undefined,
  ): void {
    const code = response.statusCode ?? 502;
    if (entry !== undefined && code === 304) {
      origin.discard();
      const refreshed = this.refresh(exchange, entry, response.headers);
      landed?.();
      return this.reply(exchange, refreshed, 'REVALIDATED');
    }
    if (entry !== undefined && code >= 500 && usableOnError(entry)) {
      origin.discard();
      landed?.();
      return this.reply(exchange, entry, 'STALE');
    }
    if (entry !== undefined) this.store.remove(entry);
    const tap = this.collector(exchange, request, code, response.headers, landed);
    if (tap === undefined) landed?.();
    this.host.relay(exchange, response, origin, status, tap);
  }

  /**
   * A tap storing the response to `request` (what the origin was asked: a HEAD, or a GET for a
   * range, is never stored) when it may be stored and fits; undefined (and a pass mark) otherwise.
   */
  private collector(
    exchange: ClientExchange,
    request: OriginRequest,
    status: number,
    headers: IncomingHttpHeaders,
    landed: (() => void) | undefined,
  ): BodyTap | undefined {
    const { path } = exchange;
    if (request.method !== 'GET' || request.headers.range !== undefined || status === 206) return undefined;
    const policyRequest = this.policyRequest(exchange);
    const policy = storablePolicy(policyRequest, status, headers);
    const declared = headers['content-length'];
    if (policy === undefined || (declared !== undefined && !this.store.fits(Number(declared)))) {
      this.store.markPass(path);
      return undefined;
    }
    return new BodyCollector(
      this.maxEntryBytes,
      (body) => {
        this.store.store(createEntry(path, policyRequest, policy, status, headers, body));
        landed?.();
      },
      () => {
        this.store.markPass(path);
        landed?.();
      },
    );
  }

  private refresh(exchange: ClientExchange, entry: CacheEntry, headers: IncomingHttpHeaders): CacheEntry {
    this.store.count('revalidated');
    const request = this.policyRequest(exchange);
    const { policy, matches } = entry.policy.revalidatedPolicy(request, { status: 304, headers: headers as CachePolicy.Headers });
    if (!matches) {
      // A 304 for other validators than the entry's: serve the entry this once, then fetch afresh.
      this.store.remove(entry);
      return entry;
    }
    const refreshed = refreshedEntry(entry, request, policy);
    this.store.store(refreshed);
    return refreshed;
  }

  /** stale-while-revalidate: one background revalidation per URL at a time. */
  private revalidateDetached(exchange: ClientExchange, entry: CacheEntry): void {
    const { path } = exchange;
    if (this.flights.has(path)) return;
    const flight: Flight = { waiters: [] };
    this.flights.set(path, flight);
    const land = (): void => {
      if (this.flights.get(path) === flight) this.flights.delete(path);
      for (const waiter of flight.waiters) waiter();
    };
    const headers = this.host.upstreamHeaders(exchange);
    for (const name of ['if-none-match', 'if-modified-since', 'if-range', 'range']) delete headers[name];
    Object.assign(headers, validatorsOf(entry, this.policyRequest(exchange)));
    const deadlineAt = Date.now() + this.host.detachedDeadlineMs;
    // A GET whatever the client's method: the response replaces the stored GET response.
    const request: OriginRequest = { method: 'GET', path, headers, deadlineAt, retryable: true, client: exchange };
    this.host.sendDetached(
      request,
      {
        response: (response, origin) => {
          const code = response.statusCode ?? 502;
          if (code === 304) {
            origin.discard();
            this.refresh(exchange, entry, response.headers);
            return land();
          }
          if (code >= 500) {
            origin.discard();
            return land();
          }
          this.store.remove(entry);
          const tap = this.collector(exchange, request, code, response.headers, land);
          if (tap === undefined) {
            origin.discard();
            return land();
          }
          origin.stream(undefined, tap, land);
        },
        failed: land,
      },
    );
  }

  /** Answers from the store without asking the origin: a hit. */
  private serve(exchange: ClientExchange, entry: CacheEntry, status: CacheStatus, now: number): void {
    this.store.count('hits');
    this.reply(exchange, entry, status, now);
  }

  /** Answers from a stored entry (after the origin was asked, or not), with its Age at epoch ms `now`. */
  private reply(exchange: ClientExchange, entry: CacheEntry, status: CacheStatus, now = Date.now()): void {
    const method = exchange.req.method === 'HEAD' ? 'HEAD' : 'GET';
    const reply = storedReply(entry, method, exchange.req.headers, [CACHE_HEADER, status], now);
    this.host.reply(exchange, reply.status, reply.headers, reply.body);
  }

  /** The request as the cache rules see it: method GET (HEAD is answered from GET responses), the origin's Host. */
  private policyRequest(exchange: ClientExchange): PolicyRequest {
    return { url: exchange.path, method: 'GET', headers: { ...exchange.req.headers, host: this.host.originHost } as CachePolicy.Headers };
  }
}
