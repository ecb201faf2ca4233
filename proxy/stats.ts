import { performance } from 'node:perf_hooks';
import { Histogram } from './histogram.js';
import { TopClients } from './top-clients.js';
import type { ProxySample, ProxyTotals } from './types.js';

/** How many of the busiest client addresses a sample lists. */
export const TOP_CLIENTS_LISTED = 10;

type StatusCounts = ProxySample['status'];

const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;

function noStatus(): StatusCounts {
  return { '1xx': 0, '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0 };
}

/** The gauges a sample reports as they are at its end. */
export interface ProxyGauges {
  busy: number;
  inFlight: number;
  queueDepth: number;
}

/**
 * The proxy's counters: per-interval ones, reset by every `sample()`, and cumulative totals.
 * Memory is bounded: queueing times go into a fixed-size histogram and client addresses into a
 * table of at most `maxTrackedClients` entries per interval.
 */
export class ProxyStats {
  private intervalStart: number;
  private requests = 0;
  private shed = 0;
  private status = noStatus();
  private bytesIn = 0;
  private bytesOut = 0;
  private readonly queueWait = new Histogram();
  private readonly clients: TopClients;
  private readonly total: ProxyTotals = { requests: 0, shed: 0, status: noStatus(), bytesIn: 0, bytesOut: 0, errors: {} };

  constructor(
    maxTrackedClients: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.clients = new TopClients(maxTrackedClients);
    this.intervalStart = now();
  }

  /** A request arrived (whatever becomes of it). */
  received(clientAddress: string): void {
    this.requests++;
    this.total.requests++;
    this.clients.add(clientAddress);
  }

  /** A request was admitted after waiting `waitMs` in the queue (0 when admitted at once). */
  admitted(waitMs: number): void {
    this.queueWait.record(waitMs);
  }

  /** A request was refused with 503 by admission control (queue full, queue timeout, draining). */
  wasShed(): void {
    this.shed++;
    this.total.shed++;
  }

  /** A response went out (fully or in part) with this status code. */
  responded(statusCode: number): void {
    const statusClass = STATUS_CLASSES[Math.floor(statusCode / 100) - 1];
    if (statusClass === undefined) return;
    this.status[statusClass]++;
    this.total.status[statusClass]++;
  }

  /** Something went wrong with a request; `code` is a GOV_ERR_PROXY_* code. */
  failed(code: string): void {
    this.total.errors[code] = (this.total.errors[code] ?? 0) + 1;
  }

  /** Request body bytes received from clients. */
  addBytesIn(bytes: number): void {
    this.bytesIn += bytes;
    this.total.bytesIn += bytes;
  }

  /** Response body bytes sent to clients. */
  addBytesOut(bytes: number): void {
    this.bytesOut += bytes;
    this.total.bytesOut += bytes;
  }

  /** The interval since the previous sample (or construction); starts the next interval. */
  sample(gauges: ProxyGauges): ProxySample {
    const now = this.now();
    const sample: ProxySample = {
      intervalMs: now - this.intervalStart,
      busy: gauges.busy,
      requests: this.requests,
      shed: this.shed,
      status: this.status,
      queueWaitMs: {
        p50: this.queueWait.percentile(0.5),
        p95: this.queueWait.percentile(0.95),
        p99: this.queueWait.percentile(0.99),
        max: this.queueWait.max,
        count: this.queueWait.count,
      },
      inFlight: gauges.inFlight,
      queueDepth: gauges.queueDepth,
      topClients: this.clients.top(TOP_CLIENTS_LISTED),
      bytesIn: this.bytesIn,
      bytesOut: this.bytesOut,
    };
    this.intervalStart = now;
    this.requests = 0;
    this.shed = 0;
    this.status = noStatus();
    this.bytesIn = 0;
    this.bytesOut = 0;
    this.queueWait.reset();
    this.clients.clear();
    return sample;
  }

  /** Cumulative counts since start (a copy). */
  totals(): ProxyTotals {
    return { ...this.total, status: { ...this.total.status }, errors: { ...this.total.errors } };
  }
}
