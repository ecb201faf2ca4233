import type { BlackboardApi } from '../governor/blackboard-types.js';
import { metricsTarget, openCloudWatch, type MetricDatum, type MetricsPublisher, type MetricUnit } from '../governor/cloud/metrics.js';
import type { Identity } from '../governor/cloud/port.js';
import { journalDue, type JournalMark } from '../governor/coordination.js';
import { describeError } from '../governor/errors.js';
import { FLEET_SERIES, LOCAL_SERIES } from '../governor/facts.js';
import type { Task, TaskContext } from '../governor/task.js';

/** Blackboard keys the publish-metrics task writes. */
export const METRICS_KEYS = {
  /** { enabled: true, namespace, endpoint? } or { enabled: false, reason }. */
  status: 'metrics.status',
  /** Failed publishes since start (a number). */
  failures: 'metrics.failures',
  /** Successful publishes since start (a number). */
  published: 'metrics.published',
  /** { at, datums } of the latest successful publish (at: the values' timestamp). */
  lastPublish: 'metrics.lastPublish',
  /** { code?, message, at } of the latest failure; absent once a publish succeeds. */
  lastError: 'metrics.lastError',
  /** The last journaled failure (journalDue). */
  errorMark: 'metrics.errorJournaled',
  /** clock.now() of the previous run: the window the next datums cover. */
  lastRunAt: 'metrics.lastRunAt',
  /** The proxy's cumulative 5xx count at the last successful publish. */
  published5xx: 'metrics.published5xx',
} as const;

/** CloudWatch metric names. */
export const METRIC_NAMES = {
  busy: 'Busy',
  queueDepth: 'QueueDepth',
  queueWaitP95: 'QueueWaitP95',
  rps: 'RequestsPerSecond',
  inFlight: 'InFlight',
  http5xx: 'Http5xx',
  fleetSize: 'FleetSize',
} as const;

/** The window of the first run, and the bounds of any run's window (seconds). */
export const DEFAULT_WINDOW_SECONDS = 30;
const MAX_WINDOW_SECONDS = 900;

export interface DatumInput {
  fleet: string;
  instanceId: string;
  at: number;
  /** Seconds of series history the values summarize (since the previous run). */
  windowSeconds: number;
  /** 5xx responses since the last successful publish; undefined without a proxy. */
  http5xx?: number;
}

/**
 * The batch one run publishes: each of this instance's values twice, with dimensions
 * {Fleet, InstanceId} and {Fleet} alone (CloudWatch aggregates the fleet series over every
 * member), plus FleetSize as this instance sees it ({Fleet} only). Series with no sample in the
 * window are left out rather than published as 0.
 */
export function collectDatums(bb: BlackboardApi, input: DatumInput): MetricDatum[] {
  const w = input.windowSeconds;
  // absent series are simply not published (and not created)
  const series = (name: string) => bb.existingSeries(name);
  const busy = series(LOCAL_SERIES.busy)?.avg(w);
  const values: Array<[string, number | null | undefined, MetricUnit]> = [
    [METRIC_NAMES.busy, busy === null || busy === undefined ? busy : busy * 100, 'Percent'],
    [METRIC_NAMES.queueDepth, series(LOCAL_SERIES.queueDepth)?.avg(w), 'Count'],
    [METRIC_NAMES.queueWaitP95, series(LOCAL_SERIES.queueWaitP95Ms)?.percentile(95, w), 'Milliseconds'],
    [METRIC_NAMES.rps, series(LOCAL_SERIES.rps)?.avg(w), 'Count/Second'],
    [METRIC_NAMES.inFlight, series(LOCAL_SERIES.inFlight)?.avg(w), 'Count'],
    [METRIC_NAMES.http5xx, input.http5xx, 'Count'],
  ];
  const instance = { Fleet: input.fleet, InstanceId: input.instanceId };
  const fleet = { Fleet: input.fleet };
  const datums: MetricDatum[] = [];
  for (const [name, value, unit] of values) {
    if (value === null || value === undefined || !Number.isFinite(value)) continue;
    datums.push({ name, value, unit, dimensions: instance, at: input.at });
    datums.push({ name, value, unit, dimensions: fleet, at: input.at });
  }
  const size = series(FLEET_SERIES.size)?.last();
  if (size !== undefined) datums.push({ name: METRIC_NAMES.fleetSize, value: size, unit: 'Count', dimensions: fleet, at: input.at });
  return datums;
}

interface Connection {
  identity: Identity;
  publisher: MetricsPublisher;
}

/** One connection per governor (several governors share this module in a simulation). */
const connections = new WeakMap<BlackboardApi, Promise<Connection>>();

function connect(ctx: TaskContext, target: Parameters<typeof openCloudWatch>[1]): Promise<Connection> {
  let connection = connections.get(ctx.blackboard);
  if (!connection) {
    connection = (async () => {
      const identity = await ctx.cloud.identity();
      const publisher = await openCloudWatch(ctx.config, target, identity.region, ctx.log);
      return { identity, publisher };
    })();
    connections.set(ctx.blackboard, connection);
    // a failed connection is retried on the next run
    connection.catch(() => connections.delete(ctx.blackboard));
  }
  return connection;
}

function windowSeconds(bb: BlackboardApi, now: number): number {
  const previous = bb.get<number>(METRICS_KEYS.lastRunAt);
  bb.set(METRICS_KEYS.lastRunAt, now);
  if (previous === undefined) return DEFAULT_WINDOW_SECONDS;
  return Math.min(MAX_WINDOW_SECONDS, Math.max(1, (now - previous) / 1000));
}

function recordFailure(ctx: TaskContext, err: unknown, datums: number): void {
  const bb = ctx.blackboard;
  const now = ctx.clock.now();
  const error = describeError(err);
  bb.set(METRICS_KEYS.failures, (bb.get<number>(METRICS_KEYS.failures) ?? 0) + 1);
  bb.set(METRICS_KEYS.lastError, { ...error, at: now });
  ctx.log.warn({ err: error }, 'publishing metrics failed');
  const mark = bb.get<JournalMark>(METRICS_KEYS.errorMark);
  if (!journalDue(mark, error.message, now)) return;
  bb.set(METRICS_KEYS.errorMark, { code: error.message, at: now } satisfies JournalMark);
  ctx.journal.record({
    kind: 'error',
    name: ctx.name,
    reason: `publishing metrics failed: ${error.message}`,
    data: { error, datums, failures: bb.get(METRICS_KEYS.failures) },
  });
}

/** `at`: the time the published values describe (their timestamp). */
function recordSuccess(ctx: TaskContext, at: number, datums: number, total5xx: number | undefined): void {
  const bb = ctx.blackboard;
  bb.set(METRICS_KEYS.published, (bb.get<number>(METRICS_KEYS.published) ?? 0) + 1);
  bb.set(METRICS_KEYS.lastPublish, { at, datums });
  if (total5xx !== undefined) bb.set(METRICS_KEYS.published5xx, total5xx);
  if (bb.delete(METRICS_KEYS.lastError)) {
    bb.delete(METRICS_KEYS.errorMark);
    const failures = bb.get<number>(METRICS_KEYS.failures) ?? 0;
    ctx.journal.record({ kind: 'info', name: ctx.name, reason: `publishing metrics recovered (${failures} failures since start)` });
  }
}

function setStatus(ctx: TaskContext, status: Record<string, unknown>): void {
  const previous = ctx.blackboard.get<Record<string, unknown>>(METRICS_KEYS.status);
  ctx.blackboard.set(METRICS_KEYS.status, status);
  if (status.enabled === false && previous?.reason !== status.reason) {
    ctx.journal.record({ kind: 'info', name: ctx.name, reason: String(status.reason) });
  }
}

/**
 * Every 30 s: one batched PutMetricData with this instance's busy %, queue depth, queueing time
 * p95, request rate, in-flight requests and 5xx count since the last publish, each also as a
 * fleet-level series (dimension Fleet only), plus the fleet size (see collectDatums). Where it
 * goes follows `metrics` in the config (metricsTarget); when disabled the reason is in
 * `metrics.status` (journaled once). A failure never fails the run: it is counted in
 * `metrics.failures`, kept in `metrics.lastError`, journaled (kind 'error', the same message at
 * most once a minute) and the 5xx not yet published carry over to the next run. The interval
 * is the schedule (override it in tasks.overrides); each run covers the time since the last.
 */
const publishMetrics: Task = {
  name: 'publish-metrics',
  schedule: '*/30 * * * * *',
  timeoutMs: 25_000,
  async run(ctx: TaskContext) {
    const bb = ctx.blackboard;
    const now = ctx.clock.now();
    const window = windowSeconds(bb, now);
    const target = metricsTarget(ctx.config);
    if (!target.enabled) {
      setStatus(ctx, { enabled: false, reason: target.reason });
      return;
    }
    setStatus(ctx, { enabled: true, namespace: ctx.config.metrics.namespace, endpoint: target.endpoint ?? null });

    const total5xx = ctx.proxy?.totals().status['5xx'];
    let datums: MetricDatum[] = [];
    try {
      const { identity, publisher } = await connect(ctx, target);
      const base = bb.get<number>(METRICS_KEYS.published5xx) ?? 0;
      // a total below the baseline means the proxy's counters restarted
      const http5xx = total5xx === undefined ? undefined : total5xx >= base ? total5xx - base : total5xx;
      datums = collectDatums(bb, { fleet: identity.fleet, instanceId: identity.id, at: now, windowSeconds: window, http5xx });
      if (datums.length === 0) return;
      await publisher.publish(datums, ctx.signal);
      recordSuccess(ctx, now, datums.length, total5xx);
    } catch (err) {
      recordFailure(ctx, err, datums.length);
    }
  },
};

export default publishMetrics;
