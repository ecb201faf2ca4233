import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { ProxyControl } from '../proxy/types.js';
import type { AdminRoute } from './admin.js';
import { ADMIN_REJECTED_KEY } from './admin-auth.js';
import type { BlackboardApi } from './blackboard-types.js';
import { FLEET_SERIES, LOCAL_SERIES, PLAIN_FACTS } from './facts.js';
import type { JournalApi } from './journal-types.js';
import type { TaskRunRecord } from './task.js';

/**
 * GET /metrics in the Prometheus text format (prom-client, on a registry of its own). Every
 * value is read at scrape time from the blackboard, the journal and the proxy, so the metrics
 * never disagree with /state. Every name starts with `governor_` (process and Node.js default
 * metrics too). A value that is missing or not a finite number is left out, never shown as 0.
 */

type SeriesName = (typeof LOCAL_SERIES)[keyof typeof LOCAL_SERIES] | (typeof FLEET_SERIES)[keyof typeof FLEET_SERIES];
type PlainFact = (typeof PLAIN_FACTS)[keyof typeof PLAIN_FACTS];

interface MetricSpec {
  name: string;
  help: string;
}

/** The last sample of each series; null: exported from a plain fact instead. */
const SERIES_METRICS: Record<SeriesName, MetricSpec | null> = {
  busy: { name: 'governor_busy_ratio', help: 'Event-loop utilization of the proxy over the last sampled second (0..1).' },
  'queue.depth': { name: 'governor_queue_depth', help: 'Requests waiting for admission.' },
  'queue.waitP95Ms': { name: 'governor_queue_wait_p95_milliseconds', help: 'p95 queueing time of requests admitted in the last second.' },
  rps: { name: 'governor_requests_per_second', help: 'Requests received per second (last second).' },
  inflight: { name: 'governor_in_flight_requests', help: 'Requests in flight to the origin.' },
  shed: { name: 'governor_shed_per_second', help: 'Requests shed with 503 per second (last second).' },
  'fleet.busy': { name: 'governor_fleet_busy_ratio', help: 'Mean 1-minute busy of the serving fleet members (0..1).' },
  'fleet.busyMax': { name: 'governor_fleet_busy_max_ratio', help: 'Highest 1-minute busy among the serving fleet members (0..1).' },
  'fleet.busyIfOneLess': {
    name: 'governor_fleet_busy_if_one_less_ratio',
    help: 'Mean busy the fleet would have with one serving member less.',
  },
  'fleet.queueWaitP95Ms': { name: 'governor_fleet_queue_wait_p95_milliseconds', help: "Mean of the members' p95 queueing times." },
  'fleet.sizeSeries': null,
};

const PLAIN_METRICS: Record<PlainFact, MetricSpec> = {
  'fleet.size': { name: 'governor_fleet_members', help: 'Fleet members: pending + running + leaving.' },
  'fleet.running': { name: 'governor_fleet_running', help: 'Fleet members serving (running).' },
  'fleet.pending': { name: 'governor_fleet_pending', help: 'Fleet members still booting (pending).' },
  'fleet.leaving': { name: 'governor_fleet_leaving', help: 'Fleet members in a controlled shutdown (leaving).' },
  'fleet.myRank': { name: 'governor_fleet_rank', help: "This instance's oldest-first rank (0 = oldest)." },
  'signals.windowsFilled': { name: 'governor_signals_windows_filled', help: '1 once the signal windows rules use are full.' },
  'control.paused': { name: 'governor_paused', help: '1 while the region-wide Stop is in force.' },
};

export interface MetricsSources {
  blackboard: BlackboardApi;
  journal: JournalApi;
  /** Absent when the governor runs without a proxy: the proxy metrics are then not registered. */
  proxy?: ProxyControl;
}

export interface Metrics {
  registry: Registry;
  /** GET /metrics. */
  route: AdminRoute;
}

type Sample = [labels: Record<string, string>, value: number];
/** Registers a counter that mirrors cumulative totals kept elsewhere. */
type Totals = (spec: MetricSpec, labelNames: string[], read: () => Sample[]) => Counter<string>;

function finite(value: unknown): number | undefined {
  if (typeof value === 'boolean') return value ? 1 : 0;
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

/** Each `<prefix><name>` key whose value is a finite number, as [name, value]. */
function numericKeys(blackboard: BlackboardApi, prefix: string): Array<[string, number]> {
  const out: Array<[string, number]> = [];
  for (const key of blackboard.keys(prefix)) {
    const value = finite(blackboard.get(key));
    if (value !== undefined) out.push([key.slice(prefix.length), value]);
  }
  return out;
}

function taskRecords(blackboard: BlackboardApi): TaskRunRecord[] {
  return blackboard
    .keys('tasks.')
    .map((key) => blackboard.get<TaskRunRecord>(key))
    .filter((r): r is TaskRunRecord => typeof r === 'object' && r !== null && typeof r.name === 'string');
}

function lengthOf(value: unknown): number | undefined {
  return Array.isArray(value) ? value.length : undefined;
}

/** Registers every governor metric on a new registry and returns it with its route. */
export function createMetrics(sources: MetricsSources): Metrics {
  const { blackboard, journal, proxy } = sources;
  const registry = new Registry();
  const registers = [registry];

  /** An unlabelled gauge read at scrape time; left out while `read` gives undefined. */
  const gauge = (spec: MetricSpec, read: () => number | undefined) =>
    new Gauge({
      ...spec,
      registers,
      collect() {
        const value = read();
        if (value === undefined) this.remove();
        else this.set(value);
      },
    });
  /** A labelled gauge holding exactly the samples `read` gives at scrape time. */
  const gauges = (spec: MetricSpec, labelNames: string[], read: () => Sample[]) =>
    new Gauge({
      ...spec,
      labelNames,
      registers,
      collect() {
        this.reset();
        for (const [labels, value] of read()) this.set(labels, value);
      },
    });
  /** A counter mirroring cumulative totals kept elsewhere (they only grow while the process lives). */
  const totals: Totals = (spec, labelNames, read) =>
    new Counter({
      ...spec,
      labelNames,
      registers,
      collect() {
        this.reset();
        for (const [labels, value] of read()) if (value >= 0) this.inc(labels, value);
      },
    });

  const seriesLast = (name: string) => blackboard.existingSeries(name)?.last();
  for (const [series, spec] of Object.entries(SERIES_METRICS)) if (spec) gauge(spec, () => seriesLast(series));
  for (const [fact, spec] of Object.entries(PLAIN_METRICS)) gauge(spec, () => finite(blackboard.get(fact)));

  // Journal entries are counted as they appear: each scrape reads the entries recorded since the
  // last one (entries the journal dropped between two scrapes, beyond its capacity, are not counted).
  let lastSeq = 0;
  const syncJournal = () => {
    for (const entry of journal.query({ since: lastSeq, limit: Number.MAX_SAFE_INTEGER })) {
      lastSeq = entry.seq;
      journalEntries.inc({ kind: entry.kind, name: entry.name });
      if (entry.kind === 'rules') ruleReloads.inc({ outcome: entry.data?.ok === false ? 'rejected' : 'ok' });
    }
  };
  const journalEntries: Counter<string> = new Counter({
    name: 'governor_journal_entries_total',
    help: 'Decision journal entries recorded, by kind (intent, action, suppressed, error, rules, info) and name.',
    labelNames: ['kind', 'name'],
    registers,
    collect: syncJournal,
  });
  const ruleReloads: Counter<string> = new Counter({
    name: 'governor_rule_reloads_total',
    help: 'Rule set reload attempts, by outcome (ok, rejected: the last good set stayed active).',
    labelNames: ['outcome'],
    registers,
    collect: syncJournal,
  });
  gauge({ name: 'governor_rules_active', help: 'Rules in the active rule set.' }, () => lengthOf(blackboard.get('rules.active')));
  gauge({ name: 'governor_rule_errors', help: 'Errors found by the last rule reload attempt.' }, () => lengthOf(blackboard.get('rules.errors')));
  gauge({ name: 'governor_rules_last_reload_timestamp_seconds', help: 'When rules were last reloaded (Unix time).' }, () => {
    const at = finite(blackboard.get<{ at?: unknown }>('rules.lastReload')?.at);
    return at === undefined ? undefined : at / 1000;
  });

  const perTask = (pick: (r: TaskRunRecord) => number | undefined): Sample[] =>
    taskRecords(blackboard).flatMap((r): Sample[] => {
      const value = finite(pick(r));
      return value === undefined ? [] : [[{ task: r.name }, value]];
    });
  totals({ name: 'governor_task_runs_total', help: 'Task runs started.' }, ['task'], () => perTask((r) => r.runs));
  totals({ name: 'governor_task_failures_total', help: 'Task runs that threw or timed out.' }, ['task'], () => perTask((r) => r.failures));
  totals({ name: 'governor_task_skipped_total', help: 'Task fires skipped: a run was still going, or the loop was blocked.' }, ['task'], () =>
    perTask((r) => r.skipped),
  );
  gauges({ name: 'governor_task_last_duration_seconds', help: 'Duration of the last finished run of each task.' }, ['task'], () =>
    perTask((r) => (r.durationMs === undefined ? undefined : r.durationMs / 1000)),
  );
  gauges({ name: 'governor_task_failing', help: '1 when the last run of the task failed or timed out.' }, ['task'], () =>
    perTask((r) => (r.outcome === 'running' ? undefined : Number(r.outcome !== 'ok'))),
  );

  gauges({ name: 'governor_cache', help: 'Cache statistics from the blackboard keys cache.<stat>.' }, ['stat'], () =>
    numericKeys(blackboard, 'cache.').map(([stat, value]): Sample => [{ stat }, value]),
  );
  totals({ name: 'governor_admin_rejected_total', help: 'Signed admin requests rejected, by error code.' }, ['code'], () =>
    Object.entries(blackboard.get<Record<string, number>>(ADMIN_REJECTED_KEY) ?? {}).map(([code, n]): Sample => [{ code }, n]),
  );

  if (proxy) registerProxyMetrics(proxy, totals);

  collectDefaultMetrics({ register: registry, prefix: 'governor_' });

  const route: AdminRoute = {
    method: 'GET',
    path: '/metrics',
    async handler(_req, res) {
      const text = await registry.metrics();
      res.writeHead(200, {
        'content-type': registry.contentType,
        'content-length': Buffer.byteLength(text),
        'cache-control': 'no-store',
      });
      res.end(text);
    },
  };
  return { registry, route };
}

function registerProxyMetrics(proxy: ProxyControl, totals: Totals): void {
  totals({ name: 'governor_proxy_requests_total', help: 'Requests the proxy received (admitted, queued or shed).' }, [], () => [
    [{}, proxy.totals().requests],
  ]);
  totals({ name: 'governor_proxy_shed_total', help: 'Requests the proxy shed with 503.' }, [], () => [[{}, proxy.totals().shed]]);
  totals({ name: 'governor_proxy_responses_total', help: 'Responses by status class (1xx..5xx).' }, ['class'], () =>
    Object.entries(proxy.totals().status).map(([cls, n]): Sample => [{ class: cls }, n]),
  );
  totals({ name: 'governor_proxy_bytes_total', help: 'Bytes received from clients (in) and sent to them (out).' }, ['direction'], () => {
    const { bytesIn, bytesOut } = proxy.totals();
    return [
      [{ direction: 'in' }, bytesIn],
      [{ direction: 'out' }, bytesOut],
    ];
  });
  totals({ name: 'governor_proxy_errors_total', help: 'Proxy errors by GOV_ERR_PROXY_* code.' }, ['code'], () =>
    Object.entries(proxy.totals().errors).map(([code, n]): Sample => [{ code }, n]),
  );
}
