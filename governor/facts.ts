/**
 * The catalog of facts rules may use, and the blackboard names they come from. Rule validation
 * rejects any fact or series not listed here; the tasks that write them name them from here.
 */

/** Series written every second by the signals task (this instance). */
export const LOCAL_SERIES = {
  busy: 'busy', // interval event-loop utilization of the proxy, 0..1
  queueDepth: 'queue.depth', // requests waiting for admission
  queueWaitP95Ms: 'queue.waitP95Ms', // p95 queueing time of requests admitted in the last second
  rps: 'rps', // requests per second received
  inFlight: 'inflight', // requests in flight to the origin
  shedPerSecond: 'shed', // requests shed (503) per second
} as const;

/** Series written on every fleet tick by the fleet task (the whole fleet, from published summaries). */
export const FLEET_SERIES = {
  busyMean: 'fleet.busy', // mean busy (last 10 s) of the serving members
  busyMax: 'fleet.busyMax', // max busy (last 10 s) of the serving members
  busyIfOneLess: 'fleet.busyIfOneLess', // sum of busy / (serving - 1): the load if one instance left
  queueWaitP95Ms: 'fleet.queueWaitP95Ms', // mean of members' queueing p95 (last 10 s)
  size: 'fleet.sizeSeries', // members (pending + running + leaving)
} as const;

/**
 * Series written every second by the signals task for the anomaly rules (rules/busy-loop.json,
 * rules/denial-of-service.json); documented in the README, "Anomaly rules".
 */
export const ANOMALY_SERIES = {
  // highest busy (0..1) among the proxy's workers that received no request in the last second:
  // a worker whose event loop spins serves nothing. 0 when every worker received requests;
  // not written when the proxy runs in the governor's process (no workers).
  idleWorkerBusyMax: 'workers.idleBusyMax',
  // fraction (0..1) of the last second's requests sent by the 3 busiest client addresses that
  // could be blocked: loopback addresses and addresses already on the denylist do not count
  clientsTop3Share: 'clients.top3Share',
} as const;

export const ALL_SERIES: readonly string[] = [
  ...Object.values(LOCAL_SERIES),
  ...Object.values(FLEET_SERIES),
  ...Object.values(ANOMALY_SERIES),
];

/** Plain blackboard keys usable as facts (value read as is). */
export const PLAIN_FACTS = {
  fleetSize: 'fleet.size', // members: pending + running + leaving
  fleetRunning: 'fleet.running',
  fleetPending: 'fleet.pending',
  fleetLeaving: 'fleet.leaving',
  myRank: 'fleet.myRank', // this instance's oldest-first rank (0 = oldest)
  windowsFilled: 'signals.windowsFilled', // true once the longest window rules use is full
  paused: 'control.paused', // region-wide Stop! in force
} as const;

/** The value type of each plain fact; rule validation checks every comparison against it. */
export const PLAIN_FACT_TYPES: Record<(typeof PLAIN_FACTS)[keyof typeof PLAIN_FACTS], 'number' | 'boolean'> = {
  'fleet.size': 'number',
  'fleet.running': 'number',
  'fleet.pending': 'number',
  'fleet.leaving': 'number',
  'fleet.myRank': 'number',
  'signals.windowsFilled': 'boolean',
  'control.paused': 'boolean',
};

/**
 * Parametrized facts over series (json-rules-engine `params`):
 * - `window`        {series, seconds, stat: 'avg'|'min'|'max'|'p50'|'p90'|'p95'|'p99'} -> number | null
 * - `secondsAbove`  {series, threshold} -> number
 * - `secondsBelow`  {series, threshold} -> number
 */
export const WINDOW_FACTS = ['window', 'secondsAbove', 'secondsBelow'] as const;
export const WINDOW_STATS = ['avg', 'min', 'max', 'p50', 'p90', 'p95', 'p99'] as const;
export type WindowStat = (typeof WINDOW_STATS)[number];

/** Event types rules may emit; each becomes an intent `intents.<type>`. */
export const EVENT_TYPES = ['scale-up', 'scale-down', 'hold', 'origin-slow', 'block-client', 'restart-worker'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** An intent: what a rule wants, why, and the facts that decided it. Key: `intents.<type>`. */
export interface Intent {
  type: EventType;
  rule: string;
  file: string;
  params: Record<string, unknown>;
  facts: Record<string, unknown>;
  at: number;
  /**
   * Other rules that emitted the same type in the same run (`rule` is the one with the highest
   * priority, then the first in file order); their deciding facts are merged into `facts`.
   */
  also?: Array<{ rule: string; file: string; params: Record<string, unknown> }>;
}
