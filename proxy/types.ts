/**
 * What the governor sees of the proxy (and what the simulator models): interval samples for
 * the signal tasks, cumulative totals for /state and metrics, readiness and drain.
 */

export interface ProxySample {
  /** Milliseconds covered by this sample (since the previous `sample()`). */
  intervalMs: number;
  /** Event-loop utilization over the interval, 0..1 (not the process-lifetime value). */
  busy: number;
  /** Requests received in the interval (admitted, queued or shed). */
  requests: number;
  /** Requests shed with 503 in the interval. */
  shed: number;
  status: { '1xx': number; '2xx': number; '3xx': number; '4xx': number; '5xx': number };
  /** Queueing time of requests admitted in the interval, ms (0 when none). */
  queueWaitMs: { p50: number; p95: number; p99: number; max: number; count: number };
  /** Gauges at the end of the interval. */
  inFlight: number;
  queueDepth: number;
  /** Busiest client addresses in the interval, most requests first (bounded list). */
  topClients: Array<{ address: string; requests: number }>;
  bytesIn: number;
  bytesOut: number;
  /** The response cache over the interval (absent when the cache is disabled). */
  cache?: CacheSample;
  /** Each worker process over the interval (absent when the proxy runs in the governor's process). */
  workers?: WorkerSample[];
}

/** Cache counts over an interval (or since start, in totals), and the store's size at its end. */
export interface CacheSample {
  /** GET/HEAD answered from a stored response (fresh, stale-while-revalidate, stale-if-error, or a 304 to the client). */
  hits: number;
  /** GET/HEAD that needed the origin: not stored, not reusable, revalidated, or not cacheable by its shape (Range, hit-for-pass). */
  misses: number;
  /** Revalidations the origin answered 304 (counted among misses too). */
  revalidated: number;
  /** Responses stored (new or replacing). */
  stored: number;
  /** Entries evicted to stay within cache.maxBytes. */
  evictions: number;
  /** Body and header bytes held at the end of the interval. */
  bytes: number;
  /** Stored responses (variants included) at the end of the interval. */
  entries: number;
}

/** One proxy worker process in an interval. */
export interface WorkerSample {
  /** node:cluster worker id (stable for the worker's life; a replacement gets a new id). */
  id: number;
  pid: number;
  /** The worker's event-loop utilization over its latest report interval, 0..1. */
  busy: number;
  requests: number;
  inFlight: number;
  /** The worker's resident memory at its latest report, bytes. */
  rssBytes?: number;
}

/** A client address the proxy refuses (403) until `untilMs` (epoch milliseconds). */
export interface BlockedClient {
  address: string;
  untilMs: number;
  reason: string;
}

/** What a cache purge removes: one URL (path and query), every URL under a path prefix, or everything. */
export type CachePurge = { url: string } | { prefix: string } | { all: true };

export interface ProxyTotals {
  requests: number;
  shed: number;
  status: ProxySample['status'];
  bytesIn: number;
  bytesOut: number;
  errors: Record<string, number>;
  /** Cache counts since start and the store's size now (absent when the cache is disabled). */
  cache?: CacheSample;
  /** Protection of the origin: retries made and refused by the retry budget, the circuit breaker's state. */
  origin?: { retries: number; retriesRefused: number; circuit: 'closed' | 'open' | 'half-open'; circuitOpened: number };
}

export interface ProxyControl {
  /** Interval statistics since the previous call (the first call covers time since start). */
  sample(): ProxySample;
  totals(): ProxyTotals;
  /** Whether a load balancer should send traffic here (what /readyz answers). */
  isReady(): boolean;
  setReady(ready: boolean): void;
  /**
   * Stops admitting: new requests get 503 + Retry-After; in-flight and queued ones finish.
   * Resolves when none remain or at `deadlineMs` (then `abandoned` > 0).
   */
  drain(deadlineMs: number): Promise<{ completed: number; abandoned: number }>;
  /**
   * Refuses `address` with 403 GOV_ERR_PROXY_BLOCKED until `untilMs` (epoch ms), on every worker.
   * Throws RangeError for an address that is not an IP or an expiry that is not a number.
   */
  block?(address: string, untilMs: number, reason: string): void;
  /** Lifts a block; whether there was one. */
  unblock?(address: string): boolean;
  /** Blocks in force, soonest expiry first. */
  blocked?(): BlockedClient[];
  /** Removes stored responses on every worker; resolves with how many were removed. */
  purge?(what: CachePurge): Promise<{ purged: number }>;
  /**
   * Replaces worker `id` (a WorkerSample id): a new worker starts first, then the old one drains
   * briefly and is killed if it does not exit (a busy loop cannot drain). Rejects for an unknown id.
   */
  restartWorker?(id: number): Promise<{ replacedBy: number }>;
}
