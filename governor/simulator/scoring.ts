import { weightedPercentile, type RunRecord, type SecondRecord } from './fleet-model.js';
import type { Trace } from './traces.js';

/** The service objective a minute is judged by (both configurable). */
export interface Objective {
  /** A minute whose mean fleet busy is above this is over objective. */
  busy: number;
  /** A minute whose queueing p95 (request-weighted over its seconds) is above this is over objective. */
  p95Ms: number;
}

export const DEFAULT_OBJECTIVE: Objective = { busy: 0.85, p95Ms: 100 };

/** A launch and a leave within this many seconds of each other make a flap. */
export const FLAP_WINDOW_S = 600;

export interface Scores {
  policy: string;
  /** Sum over seconds of existing instances (booting, serving, leaving) / 3600. */
  instanceHours: number;
  /** instanceHours / the oracle's; null when no oracle ran. */
  oracleRatio: number | null;
  minutes: number;
  minutesOverObjective: number;
  launches: number;
  leaves: number;
  /** Launches that never booted. */
  lost: number;
  /** Leaves with a launch within FLAP_WINDOW_S before or after. */
  flaps: number;
  duplicateLaunches: number;
  fleetMin: number;
  fleetMax: number;
  /** Seconds from the surge's start until every later minute of the surge is under objective (flash crowd only). */
  recoveryS: number | null;
  violations: number;
}

/** The minutes of a run as the objective sees them. */
export interface MinuteRecord {
  minute: number;
  rate: number;
  members: number;
  busy: number;
  p95Ms: number;
  over: boolean;
}

export function minutesOf(seconds: readonly SecondRecord[], objective: Objective): MinuteRecord[] {
  const minutes: MinuteRecord[] = [];
  for (let start = 0; start < seconds.length; start += 60) {
    const slice = seconds.slice(start, start + 60);
    const n = slice.length;
    const busy = slice.reduce((a, s) => a + s.busy, 0) / n;
    const p95Ms = weightedPercentile(
      slice.map((s) => [s.p95Ms, Math.max(s.rate, 1e-9)]),
      0.95,
    );
    minutes.push({
      minute: start / 60,
      rate: slice.reduce((a, s) => a + s.rate, 0) / n,
      members: slice.reduce((a, s) => a + s.members, 0) / n,
      busy,
      p95Ms,
      over: busy > objective.busy || p95Ms > objective.p95Ms,
    });
  }
  return minutes;
}

function recovery(minutes: readonly MinuteRecord[], surge: NonNullable<Trace['surge']>): number {
  const first = Math.floor(surge.at / 60);
  const last = Math.min(minutes.length, Math.ceil(surge.until / 60));
  let lastOver = -1;
  for (let m = first; m < last; m++) if (minutes[m].over) lastOver = m;
  return lastOver < 0 ? 0 : (lastOver + 1) * 60 - surge.at;
}

/** Scores one run (see Scores); `oracleHours` gives the ratio. */
export function scoreRun(run: RunRecord, trace: Trace, objective: Objective, oracleHours?: number): Scores {
  const minutes = minutesOf(run.seconds, objective);
  const launches = run.events.filter((e) => e.kind === 'launch');
  const leaves = run.events.filter((e) => e.kind === 'leave');
  const flaps = leaves.filter((l) => launches.some((a) => Math.abs(a.t - l.t) <= FLAP_WINDOW_S)).length;
  let memberSeconds = 0;
  let fleetMin = Infinity;
  let fleetMax = 0;
  for (const s of run.seconds) {
    memberSeconds += s.members;
    fleetMin = Math.min(fleetMin, s.members);
    fleetMax = Math.max(fleetMax, s.members);
  }
  const instanceHours = memberSeconds / 3600;
  return {
    policy: run.policy,
    instanceHours,
    oracleRatio: oracleHours ? instanceHours / oracleHours : null,
    minutes: minutes.length,
    minutesOverObjective: minutes.filter((m) => m.over).length,
    launches: launches.length,
    leaves: leaves.length,
    lost: run.events.filter((e) => e.kind === 'lost').length,
    flaps,
    duplicateLaunches: run.duplicateLaunches,
    fleetMin: Number.isFinite(fleetMin) ? fleetMin : 0,
    fleetMax,
    recoveryS: trace.surge ? recovery(minutes, trace.surge) : null,
    violations: run.violations.length,
  };
}

const fixed = (x: number | null, digits: number) => (x === null ? '-' : x.toFixed(digits));

/** The score table printed at the end of a simulation (and pasted into the README). */
export function formatScoreTable(scores: readonly Scores[], bounds: { minInstances: number; maxInstances: number }): string {
  const header = ['policy', 'inst-h', 'x oracle', 'min over SLO', 'launches', 'leaves', 'flaps', 'dup', 'lost', `fleet (min ${bounds.minInstances}, cap ${bounds.maxInstances})`, 'recovery', 'violations'];
  const rows = scores.map((s) => [
    s.policy,
    fixed(s.instanceHours, 2),
    fixed(s.oracleRatio, 3),
    `${s.minutesOverObjective}/${s.minutes}`,
    String(s.launches),
    String(s.leaves),
    String(s.flaps),
    String(s.duplicateLaunches),
    String(s.lost),
    `${s.fleetMin}..${s.fleetMax}`,
    s.recoveryS === null ? '-' : `${s.recoveryS} s`,
    String(s.violations),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}
