import { TOP_CLIENTS_LISTED } from './stats.js';
import type { CacheSample, ProxySample, ProxyTotals, WorkerSample } from './types.js';

/** What the primary holds of one worker between two samples of its own. */
export interface WorkerReports {
  id: number;
  pid: number;
  /** Interval samples the worker reported since the primary's previous sample(). */
  pending: ProxySample[];
  /** The worker's latest report (its gauges stand until the next one). */
  latest?: ProxySample;
  latestTotals?: ProxyTotals;
  rssBytes?: number;
}

type Status = ProxySample['status'];
const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;

function noStatus(): Status {
  return { '1xx': 0, '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0 };
}

function addStatus(into: Status, from: Status): void {
  for (const key of STATUS_CLASSES) into[key] += from[key];
}

function addCache(into: CacheSample | undefined, from: CacheSample | undefined, gauges: boolean): CacheSample | undefined {
  if (from === undefined) return into;
  const sum = into ?? { hits: 0, misses: 0, revalidated: 0, stored: 0, evictions: 0, bytes: 0, entries: 0 };
  sum.hits += from.hits;
  sum.misses += from.misses;
  sum.revalidated += from.revalidated;
  sum.stored += from.stored;
  sum.evictions += from.evictions;
  if (gauges) {
    sum.bytes += from.bytes;
    sum.entries += from.entries;
  }
  return sum;
}

/** The busy a worker had over the reports of the interval (time-weighted), else its latest. */
function workerBusy(worker: WorkerReports): number {
  const ms = worker.pending.reduce((sum, s) => sum + s.intervalMs, 0);
  if (ms > 0) return worker.pending.reduce((sum, s) => sum + s.busy * s.intervalMs, 0) / ms;
  return worker.latest?.busy ?? 0;
}

/**
 * The instance's sample from its workers' reports over the primary's interval (`intervalMs`):
 * - counts (requests, shed, status, bytes, cache counts) are sums of the reports received;
 * - gauges (inFlight, queueDepth, cache bytes and entries) are sums of each worker's latest;
 * - busy is the MEAN of the workers' event-loop utilization: the share of the instance's proxy
 *   capacity in use, which is what the fleet's sizing rule (desired = ceil(N x busy / target))
 *   divides by. The max would let one hot worker (one heavy connection, a busy loop) grow the
 *   fleet although more instances cannot help it; per-worker busy is in `workers` for the rule
 *   that restarts a spinning worker;
 * - queueWaitMs: count sums, max is the largest, and p50/p95/p99 are the largest worker's
 *   value: an upper bound (percentiles of separate histograms do not merge exactly);
 * - topClients: per-address sums of the workers' lists (each worker lists its busiest 10).
 */
export function mergeSamples(workers: WorkerReports[], intervalMs: number): ProxySample {
  const sample: ProxySample = {
    intervalMs,
    busy: 0,
    requests: 0,
    shed: 0,
    status: noStatus(),
    queueWaitMs: { p50: 0, p95: 0, p99: 0, max: 0, count: 0 },
    inFlight: 0,
    queueDepth: 0,
    topClients: [],
    bytesIn: 0,
    bytesOut: 0,
    workers: [],
  };
  const clients = new Map<string, number>();
  let cache: CacheSample | undefined;
  let busySum = 0;
  for (const worker of workers) {
    let requests = 0;
    for (const s of worker.pending) {
      requests += s.requests;
      sample.shed += s.shed;
      addStatus(sample.status, s.status);
      sample.bytesIn += s.bytesIn;
      sample.bytesOut += s.bytesOut;
      const wait = sample.queueWaitMs;
      wait.count += s.queueWaitMs.count;
      wait.max = Math.max(wait.max, s.queueWaitMs.max);
      wait.p50 = Math.max(wait.p50, s.queueWaitMs.p50);
      wait.p95 = Math.max(wait.p95, s.queueWaitMs.p95);
      wait.p99 = Math.max(wait.p99, s.queueWaitMs.p99);
      for (const { address, requests: n } of s.topClients) clients.set(address, (clients.get(address) ?? 0) + n);
      cache = addCache(cache, s.cache, false);
    }
    sample.requests += requests;
    const latest = worker.latest;
    if (latest !== undefined) {
      sample.inFlight += latest.inFlight;
      sample.queueDepth += latest.queueDepth;
      if (latest.cache !== undefined) {
        cache ??= { hits: 0, misses: 0, revalidated: 0, stored: 0, evictions: 0, bytes: 0, entries: 0 };
        cache.bytes += latest.cache.bytes;
        cache.entries += latest.cache.entries;
      }
    }
    const busy = workerBusy(worker);
    busySum += busy;
    const entry: WorkerSample = { id: worker.id, pid: worker.pid, busy, requests, inFlight: latest?.inFlight ?? 0 };
    if (worker.rssBytes !== undefined) entry.rssBytes = worker.rssBytes;
    sample.workers?.push(entry);
  }
  sample.busy = workers.length > 0 ? busySum / workers.length : 0;
  sample.topClients = [...clients]
    .sort((a, b) => b[1] - a[1])
    .slice(0, TOP_CLIENTS_LISTED)
    .map(([address, requests]) => ({ address, requests }));
  if (cache !== undefined) sample.cache = cache;
  return sample;
}

const CIRCUIT_ORDER = { closed: 0, 'half-open': 1, open: 2 } as const;

/** Totals summed over `parts` (live workers' latest totals and what retired workers left). */
export function sumTotals(parts: ProxyTotals[]): ProxyTotals {
  const total: ProxyTotals = { requests: 0, shed: 0, status: noStatus(), bytesIn: 0, bytesOut: 0, errors: {} };
  for (const part of parts) {
    total.requests += part.requests;
    total.shed += part.shed;
    addStatus(total.status, part.status);
    total.bytesIn += part.bytesIn;
    total.bytesOut += part.bytesOut;
    for (const [code, n] of Object.entries(part.errors)) total.errors[code] = (total.errors[code] ?? 0) + n;
    total.cache = addCache(total.cache, part.cache, true);
    if (part.origin !== undefined) {
      const origin = (total.origin ??= { retries: 0, retriesRefused: 0, circuit: 'closed', circuitOpened: 0 });
      origin.retries += part.origin.retries;
      origin.retriesRefused += part.origin.retriesRefused;
      origin.circuitOpened += part.origin.circuitOpened;
      if (CIRCUIT_ORDER[part.origin.circuit] > CIRCUIT_ORDER[origin.circuit]) origin.circuit = part.origin.circuit;
    }
  }
  return total;
}
