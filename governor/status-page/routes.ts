import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sendJson, type AdminRoute } from '../admin.js';
import type { BlackboardApi } from '../blackboard-types.js';
import { toJsonSafe } from '../blackboard.js';
import type { Clock } from '../clock.js';
import type { RankedInstance } from '../coordination.js';
import { FLEET_SERIES, LOCAL_SERIES, PLAIN_FACTS } from '../facts.js';
import type { JournalApi } from '../journal-types.js';
import { CONTROL_KEYS } from '../operator/control.js';
import { packageRoot } from '../package-info.js';
import type { TaskRunRecord } from '../task.js';
import { SHUTDOWN_KEYS } from '../../tasks/controlled-shutdown.js';
import { FLEET_KEYS } from '../../tasks/fleet.js';

/**
 * The live status page, served by the admin API: `/` (the page), its script and style under
 * `/status-page/`, and `/status.json` (everything the page shows, in one poll).
 *
 * The page's files are plain static files in governor/status-page/ and are read from there, via
 * packageRoot(), both when running from source and from dist/ (tsc does not copy them; the
 * folder ships in the package). They are read once, when the routes are created: a missing file
 * fails at start-up, not on the first visit.
 */

/** History the charts cover. */
export const CHART_WINDOW_SECONDS = 3600;
/** Points per chart line at most; longer histories are averaged down to this. */
export const CHART_MAX_POINTS = 360;
/** Journal entries /status.json carries (the newest). */
export const STATUS_JOURNAL_ENTRIES = 50;

/** The charts: each line is a blackboard series. */
const CHARTS = {
  busy: { local: LOCAL_SERIES.busy, fleet: FLEET_SERIES.busyMean },
  queueWaitP95Ms: { local: LOCAL_SERIES.queueWaitP95Ms, fleet: FLEET_SERIES.queueWaitP95Ms },
  rps: { local: LOCAL_SERIES.rps },
  fleetSize: { fleet: FLEET_SERIES.size },
} as const;

/** Where the page's static files are (source folder, shipped with the package). */
export function statusPageDir(): string {
  return join(packageRoot(), 'governor', 'status-page');
}

const ASSETS = [
  { path: '/', file: 'index.html', type: 'text/html; charset=utf-8' },
  { path: '/status-page/app.js', file: 'app.js', type: 'text/javascript; charset=utf-8' },
  { path: '/status-page/style.css', file: 'style.css', type: 'text/css; charset=utf-8' },
] as const;

/** The page loads nothing from elsewhere; the policy makes the browser hold it to that. */
const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export interface StatusPageSources {
  blackboard: BlackboardApi;
  journal: JournalApi;
  /** The governor's clock: ages and chart windows are relative to its now(). */
  clock: Clock;
}

/** Averages consecutive runs of points so that at most `maxPoints` remain (each at its run's last time). */
export function downsample(points: Array<[number, number]>, maxPoints: number): Array<[number, number]> {
  if (points.length <= maxPoints) return points;
  const size = Math.ceil(points.length / maxPoints);
  const out: Array<[number, number]> = [];
  for (let start = 0; start < points.length; start += size) {
    const run = points.slice(start, start + size);
    out.push([run[run.length - 1][0], run.reduce((sum, [, v]) => sum + v, 0) / run.length]);
  }
  return out;
}

function history(blackboard: BlackboardApi, name: string): Array<[number, number]> {
  const series = blackboard.existingSeries(name);
  return series ? downsample(series.points(CHART_WINDOW_SECONDS), CHART_MAX_POINTS) : [];
}

function fleetRows(view: RankedInstance[], self: string | undefined) {
  return view.map((i) => ({
    rank: i.rank,
    id: i.id,
    state: i.state,
    launchTime: i.launchTime,
    self: i.id === self,
    busy: i.summary?.busy1m ?? null,
    queueDepth: i.summary?.queueDepth ?? null,
    queueWaitP95Ms: i.summary?.queueWaitP95Ms ?? null,
    rps: i.summary?.rps ?? null,
    ready: i.summary?.ready ?? null,
    summaryAt: i.summary?.at ?? null,
  }));
}

/** Everything the page shows, JSON-safe. */
export function statusSnapshot({ blackboard, journal, clock }: StatusPageSources): unknown {
  const get = (key: string) => blackboard.get(key);
  const view = blackboard.get<RankedInstance[]>(FLEET_KEYS.view) ?? [];
  const self = blackboard.get<string>(FLEET_KEYS.self);
  const charts = Object.fromEntries(
    Object.entries(CHARTS).map(([chart, lines]) => [
      chart,
      Object.fromEntries(Object.entries(lines).map(([line, series]) => [line, history(blackboard, series)])),
    ]),
  );
  return toJsonSafe({
    now: clock.now(),
    windowSeconds: CHART_WINDOW_SECONDS,
    control: { paused: get(CONTROL_KEYS.paused) === true, since: get(CONTROL_KEYS.since) ?? null, by: get(CONTROL_KEYS.by) ?? null },
    shutdownPhase: get(SHUTDOWN_KEYS.phase) ?? null,
    fleet: {
      name: view[0]?.fleet ?? null,
      region: view[0]?.region ?? null,
      self: self ?? null,
      myRank: get(PLAIN_FACTS.myRank) ?? null,
      size: get(PLAIN_FACTS.fleetSize) ?? null,
      running: get(PLAIN_FACTS.fleetRunning) ?? null,
      pending: get(PLAIN_FACTS.fleetPending) ?? null,
      leaving: get(PLAIN_FACTS.fleetLeaving) ?? null,
      viewAt: get(FLEET_KEYS.viewAt) ?? null,
      stale: get(FLEET_KEYS.stale) === true,
      error: get(FLEET_KEYS.error) ?? null,
      instances: fleetRows(view, self),
    },
    charts,
    journal: journal.query({ limit: STATUS_JOURNAL_ENTRIES }),
    rules: {
      active: get('rules.active') ?? [],
      errors: get('rules.errors') ?? [],
      lastReload: get('rules.lastReload') ?? null,
    },
    intents: blackboard.keys('intents.').map((key) => get(key)),
    tasks: blackboard
      .keys('tasks.')
      .map((key) => blackboard.get<TaskRunRecord>(key))
      .filter((r) => typeof r === 'object' && r !== null),
  });
}

/** `/`, the page's assets and `/status.json`. */
export function statusPageRoutes(sources: StatusPageSources): AdminRoute[] {
  const dir = statusPageDir();
  const assets = ASSETS.map(({ path, file, type }): AdminRoute => {
    const content = readFileSync(join(dir, file));
    return {
      method: 'GET',
      path,
      handler: (_req, res) => {
        res.writeHead(200, {
          'content-type': type,
          'content-length': content.length,
          'cache-control': 'no-cache',
          'content-security-policy': CONTENT_SECURITY_POLICY,
          'x-content-type-options': 'nosniff',
          'referrer-policy': 'no-referrer',
        });
        res.end(content);
      },
    };
  });
  const json: AdminRoute = {
    method: 'GET',
    path: '/status.json',
    handler: (_req, res) => sendJson(res, 200, statusSnapshot(sources)),
  };
  return [...assets, json];
}
