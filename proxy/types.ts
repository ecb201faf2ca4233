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
}

export interface ProxyTotals {
  requests: number;
  shed: number;
  status: ProxySample['status'];
  bytesIn: number;
  bytesOut: number;
  errors: Record<string, number>;
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
}
