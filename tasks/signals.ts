import type { BlackboardApi } from '../governor/blackboard-types.js';
import type { SignalSummary } from '../governor/cloud/port.js';
import { plainAddress, topClientsShare } from '../governor/client-addresses.js';
import { demandOver } from '../governor/demand.js';
import { ANOMALY_SERIES, LOCAL_SERIES, PLAIN_FACTS } from '../governor/facts.js';
import type { Task, TaskContext } from '../governor/task.js';
import type { ProxyControl, ProxySample, WorkerSample } from '../proxy/types.js';
import { SHUTDOWN_KEYS } from './controlled-shutdown.js';

/** Blackboard keys the signals task writes besides LOCAL_SERIES and `signals.windowsFilled`. */
export const SIGNAL_KEYS = {
  /** SignalSummary of this instance, published to peers by the fleet task. */
  summary: 'signals.summary',
  /** The latest raw ProxySample (status counts, top clients, bytes). */
  sample: 'signals.sample',
  /** Why no signals are sampled (no proxy); absent while sampling. */
  unavailable: 'signals.unavailable',
} as const;

/**
 * Blackboard keys of the response cache, written from each sample that has a cache section (the
 * proxy's cache is enabled): counts over the latest interval (summed over workers), `hitRatio`
 * = hits / (hits + misses) over it (null when there was no GET or HEAD), and the store's size.
 */
export const CACHE_KEYS = {
  hits: 'cache.hits',
  misses: 'cache.misses',
  hitRatio: 'cache.hitRatio',
  bytes: 'cache.bytes',
  entries: 'cache.entries',
  evictions: 'cache.evictions',
} as const;

function writeCacheSignals(blackboard: BlackboardApi, cache: NonNullable<ProxySample['cache']>): void {
  const lookups = cache.hits + cache.misses;
  blackboard.set(CACHE_KEYS.hits, cache.hits);
  blackboard.set(CACHE_KEYS.misses, cache.misses);
  blackboard.set(CACHE_KEYS.hitRatio, lookups > 0 ? cache.hits / lookups : null);
  blackboard.set(CACHE_KEYS.bytes, cache.bytes);
  blackboard.set(CACHE_KEYS.entries, cache.entries);
  blackboard.set(CACHE_KEYS.evictions, cache.evictions);
}

/** Per-second rate of `count` over an interval of `intervalMs`. */
function perSecond(count: number, intervalMs: number): number {
  return intervalMs > 0 ? (count * 1000) / intervalMs : 0;
}

function pushSample(blackboard: BlackboardApi, s: ProxySample, at: number): void {
  blackboard.series(LOCAL_SERIES.busy).push(s.busy, at);
  blackboard.series(LOCAL_SERIES.queueDepth).push(s.queueDepth, at);
  blackboard.series(LOCAL_SERIES.queueWaitP95Ms).push(s.queueWaitMs.p95, at);
  blackboard.series(LOCAL_SERIES.rps).push(perSecond(s.requests, s.intervalMs), at);
  blackboard.series(LOCAL_SERIES.inFlight).push(s.inFlight, at);
  blackboard.series(LOCAL_SERIES.shedPerSecond).push(perSecond(s.shed, s.intervalMs), at);
}

/** Highest busy among the workers that received no request in the interval; 0 when each received some. */
function idleWorkerBusyMax(workers: readonly WorkerSample[]): number {
  return workers.reduce((max, w) => (w.requests === 0 ? Math.max(max, w.busy) : max), 0);
}

/** ANOMALY_SERIES: the spinning-worker signal (only when the proxy has workers) and the top clients' share. */
function pushAnomalySample(blackboard: BlackboardApi, s: ProxySample, proxy: ProxyControl, at: number): void {
  if (s.workers !== undefined) blackboard.series(ANOMALY_SERIES.idleWorkerBusyMax).push(idleWorkerBusyMax(s.workers), at);
  const blocked = new Set((proxy.blocked?.() ?? []).map((b) => plainAddress(b.address)));
  blackboard.series(ANOMALY_SERIES.clientsTop3Share).push(topClientsShare(s, blocked), at);
}

/** The window of the summary's `*Now` figures: short, so that the rules' own windows decide. */
const NOW_SECONDS = 10;

/** This instance's load now and over the last 1, 5 and 15 minutes, as peers see it. */
function summarize(blackboard: BlackboardApi, at: number, ready: boolean, windowsFilled: boolean): SignalSummary {
  const busy = blackboard.series(LOCAL_SERIES.busy);
  return {
    at,
    busyNow: busy.avg(NOW_SECONDS) ?? 0,
    demandNow: demandOver(blackboard, NOW_SECONDS),
    busy1m: busy.avg(60) ?? 0,
    busy5m: busy.avg(300) ?? 0,
    busy15m: busy.avg(900) ?? 0,
    queueWaitP95Ms: blackboard.series(LOCAL_SERIES.queueWaitP95Ms).percentile(95, 60) ?? 0,
    queueWaitNowMs: blackboard.series(LOCAL_SERIES.queueWaitP95Ms).percentile(95, NOW_SECONDS) ?? 0,
    queueDepth: blackboard.series(LOCAL_SERIES.queueDepth).last() ?? 0,
    rps: blackboard.series(LOCAL_SERIES.rps).avg(60) ?? 0,
    inFlight: blackboard.series(LOCAL_SERIES.inFlight).last() ?? 0,
    ready,
    windowsFilled,
  };
}

/**
 * Samples the proxy every second: interval busy (event-loop utilization over the last second,
 * as ProxyControl.sample() measures it), queue depth and p95 wait, request and shed rates,
 * in-flight requests into LOCAL_SERIES; the idle workers' highest busy and the busiest clients'
 * share into ANOMALY_SERIES. `signals.windowsFilled` turns true, and stays true, once
 * the busy series covers scaling.warmupMs (restart safety: scaling waits for it).
 * Without a proxy it records why in `signals.unavailable` (journaled once) and samples nothing.
 */
const signals: Task = {
  name: 'signals',
  schedule: '*/1 * * * * *',
  timeoutMs: 900,
  run(ctx: TaskContext) {
    const { blackboard, clock, proxy } = ctx;
    if (!proxy) {
      if (!blackboard.has(SIGNAL_KEYS.unavailable)) {
        const reason = 'no proxy in this governor: no signals are sampled';
        blackboard.set(SIGNAL_KEYS.unavailable, reason);
        ctx.journal.record({ kind: 'info', name: 'signals', reason });
      }
      return;
    }
    blackboard.delete(SIGNAL_KEYS.unavailable);
    const now = clock.now();
    const sample = proxy.sample();
    pushSample(blackboard, sample, now);
    pushAnomalySample(blackboard, sample, proxy, now);
    blackboard.set(SIGNAL_KEYS.sample, sample);
    if (sample.cache !== undefined) writeCacheSignals(blackboard, sample.cache);

    let windowsFilled = blackboard.get(PLAIN_FACTS.windowsFilled) === true;
    if (!windowsFilled && blackboard.series(LOCAL_SERIES.busy).coveredSeconds() * 1000 >= ctx.config.scaling.warmupMs) {
      windowsFilled = true;
      ctx.journal.record({
        kind: 'info',
        name: 'signals',
        reason: `signal windows filled (${Math.round(ctx.config.scaling.warmupMs / 1000)} s of history): scaling intents may act`,
      });
    }
    blackboard.set(PLAIN_FACTS.windowsFilled, windowsFilled);
    const ready = proxy.isReady() && !blackboard.has(SHUTDOWN_KEYS.phase);
    blackboard.set(SIGNAL_KEYS.summary, summarize(blackboard, now, ready, windowsFilled));
  },
};

export default signals;
