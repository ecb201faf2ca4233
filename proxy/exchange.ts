import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Ticket } from './admission.js';
import type { OriginExchange } from './forward.js';

/**
 * One client request and what the proxy knows about it. Plain fields, not WeakMaps keyed by the
 * request: ephemeron tables cost the garbage collector dearly at tens of thousands of requests a
 * second (measured: a third of the proxy's CPU).
 */
export interface ClientExchange {
  req: IncomingMessage;
  res: ServerResponse;
  /** Origin-form path and query (the cache key). */
  path: string;
  /**
   * The client's address (IPv4-mapped IPv6 as plain IPv4): the connection's peer, or, when the
   * peer is a trusted proxy (proxy.trustedProxies), the client its X-Forwarded-For names.
   */
  address: string;
  /** The connection's peer address: what X-Forwarded-For is extended with. */
  peer: string;
  /** Epoch ms by which the origin's response head must have arrived. */
  deadlineAt: number;
  /** The proxy ended the response early (origin failure, client timeout, limit): not the client going away. */
  endedByProxy: boolean;
  /** Its place in admission, once it asked for the origin: left when the response closes. */
  ticket?: Ticket;
  /** The request to the origin, once admitted: aborted when the response closes. */
  origin?: OriginExchange;
}

/** Methods RFC 9110 defines as safe: they never invalidate stored responses. */
export const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE']);

/** Methods RFC 9110 defines as idempotent: retryable when no byte of them reached the origin. */
export const IDEMPOTENT_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

/** The response header that says how the cache handled a GET or HEAD. */
export const CACHE_HEADER = 'x-governor-cache';

/**
 * HIT: a fresh stored response. STALE: a stale one (stale-while-revalidate, or the origin failing
 * within stale-if-error). REVALIDATED: a stored one the origin confirmed with 304. MISS: from the
 * origin, stored if it could be. PASS: from the origin, not looked up (Range, HEAD, a URL whose
 * recent responses could not be stored).
 */
export type CacheStatus = 'HIT' | 'STALE' | 'REVALIDATED' | 'MISS' | 'PASS';
