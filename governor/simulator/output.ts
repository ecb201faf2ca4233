import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunRecord, SecondRecord } from './fleet-model.js';
import { minutesOf, type MinuteRecord, type Objective, type Scores } from './scoring.js';

/** What `writeOutputs` writes, by file name. */
export const OUTPUT_FILES = { summary: 'summary.json', seconds: 'run.csv', events: 'events.csv', chart: 'chart.svg' } as const;

const csvCell = (value: string | number) => {
  const text = typeof value === 'number' ? String(Number(value.toFixed(4))) : value;
  return /[",\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
};

/** One row per policy and second: policy,t,rate,members,ready,busy,p95_ms,shed. */
export function secondsCsv(runs: readonly RunRecord[]): string {
  const lines = ['policy,t,rate,members,ready,busy,p95_ms,shed'];
  for (const run of runs) {
    for (const s of run.seconds) lines.push([run.policy, s.t, s.rate, s.members, s.ready, s.busy, s.p95Ms, s.shed].map(csvCell).join(','));
  }
  return `${lines.join('\n')}\n`;
}

/** One row per scale event: policy,t,kind,id,reason. */
export function eventsCsv(runs: readonly RunRecord[]): string {
  const lines = ['policy,t,kind,id,reason'];
  for (const run of runs) for (const e of run.events) lines.push([run.policy, e.t, e.kind, e.id, e.reason].map(csvCell).join(','));
  return `${lines.join('\n')}\n`;
}

const esc = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

const PANEL = { width: 960, height: 170, left: 48, right: 56, top: 26, bottom: 22 };

/**
 * The chart: one panel per run (oracle last), time on x. In each: the offered load (grey area,
 * right axis in req/s), the fleet size (blue steps, left axis) with the oracle's (dashed), the
 * mean busy (orange, 0..100% of the panel height), launches (green ticks on top), leaves (red
 * ticks) and the minutes over objective (red band at the bottom).
 */
export function chartSvg(runs: readonly RunRecord[], objective: Objective, title: string): string {
  const minutesByRun = runs.map((r) => minutesOf(r.seconds, objective));
  const oracle = runs.find((r) => r.policy === 'oracle');
  const duration = runs.reduce((max, r) => Math.max(max, r.seconds.length), 1);
  const maxRate = minutesByRun.flat().reduce((max, m) => Math.max(max, m.rate), 1);
  const maxFleet = runs.reduce((max, r) => r.seconds.reduce((m, s) => Math.max(m, s.members), max), 1);
  const innerW = PANEL.width - PANEL.left - PANEL.right;
  /** Minutes per drawn point: at most about 300 points per line. */
  const bucket = Math.max(1, Math.ceil(duration / 60 / 300));
  const innerH = PANEL.height - PANEL.top - PANEL.bottom;
  const x = (seconds: number) => PANEL.left + (seconds / duration) * innerW;
  const parts: string[] = [];
  runs.forEach((run, i) => {
    const y0 = 30 + i * PANEL.height;
    const y = (fraction: number) => y0 + PANEL.top + innerH * (1 - fraction);
    const minutes = buckets(minutesByRun[i], bucket);
    parts.push(`<g font-family="sans-serif" font-size="11">`);
    parts.push(`<text x="${PANEL.left}" y="${y0 + 16}" font-size="13" font-weight="bold">${esc(run.policy)}</text>`);
    parts.push(`<rect x="${PANEL.left}" y="${y0 + PANEL.top}" width="${innerW}" height="${innerH}" fill="none" stroke="#ccc"/>`);
    const area = minutes.map((m) => `${x(m.minute * 60).toFixed(1)},${y(m.rate / maxRate).toFixed(1)}`);
    parts.push(`<polygon fill="#e4e4e4" points="${x(0)},${y(0)} ${area.join(' ')} ${x(duration).toFixed(1)},${y(0)}"/>`);
    for (const m of minutesByRun[i].filter((mm) => mm.over)) {
      parts.push(`<rect x="${x(m.minute * 60).toFixed(1)}" y="${y(0) - 4}" width="${Math.max(1, x(60) - x(0)).toFixed(1)}" height="4" fill="#d62728"/>`);
    }
    parts.push(polyline(minutes, (m) => m.busy, x, y, '#ff7f0e', 1.2, bucket));
    if (oracle && run !== oracle) parts.push(steps(oracle.seconds, maxFleet, x, y, '#1f77b4', '4 3', 1));
    parts.push(steps(run.seconds, maxFleet, x, y, '#1f77b4', undefined, 1.8));
    for (const e of run.events) {
      if (e.kind === 'lost') continue;
      const color = e.kind === 'launch' ? '#2ca02c' : '#d62728';
      const top = e.kind === 'launch' ? y0 + PANEL.top - 8 : y0 + PANEL.top - 4;
      parts.push(`<line x1="${x(e.t).toFixed(1)}" x2="${x(e.t).toFixed(1)}" y1="${top}" y2="${top + 4}" stroke="${color}"/>`);
    }
    parts.push(`<text x="${PANEL.left - 6}" y="${y(1) + 4}" text-anchor="end">${maxFleet}</text>`);
    parts.push(`<text x="${PANEL.left - 6}" y="${y(0)}" text-anchor="end">0</text>`);
    parts.push(`<text x="${PANEL.width - PANEL.right + 6}" y="${y(1) + 4}">${Math.round(maxRate)} r/s</text>`);
    const hours = duration / 3600;
    const tick = hours > 12 ? 3 : hours > 4 ? 1 : 0.25;
    for (let h = 0; h <= hours + 1e-9; h += tick) {
      parts.push(`<text x="${x(h * 3600).toFixed(1)}" y="${y(0) + 14}" text-anchor="middle">${formatHours(h)}</text>`);
    }
    parts.push('</g>');
  });
  const height = 30 + runs.length * PANEL.height + 24;
  const legend =
    `<g font-family="sans-serif" font-size="11" transform="translate(${PANEL.left},${height - 10})">` +
    '<rect width="10" height="10" y="-9" fill="#e4e4e4"/><text x="14">load (req/s, right)</text>' +
    '<line x1="130" x2="150" y1="-4" y2="-4" stroke="#1f77b4" stroke-width="2"/><text x="154">fleet size (left)</text>' +
    '<line x1="250" x2="270" y1="-4" y2="-4" stroke="#1f77b4" stroke-dasharray="4 3"/><text x="274">oracle</text>' +
    '<line x1="320" x2="340" y1="-4" y2="-4" stroke="#ff7f0e"/><text x="344">busy (0-100%)</text>' +
    '<line x1="440" x2="440" y1="-8" y2="0" stroke="#2ca02c"/><text x="444">launch</text>' +
    '<line x1="490" x2="490" y1="-8" y2="0" stroke="#d62728"/><text x="494">leave</text>' +
    '<rect x="530" y="-6" width="10" height="4" fill="#d62728"/><text x="544">minute over objective</text></g>';
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${PANEL.width}" height="${height}" viewBox="0 0 ${PANEL.width} ${height}">`,
    '<rect width="100%" height="100%" fill="white"/>',
    `<text x="${PANEL.left}" y="20" font-family="sans-serif" font-size="14">${esc(title)}</text>`,
    ...parts,
    legend,
    '</svg>',
    '',
  ].join('\n');
}

function formatHours(h: number): string {
  const minutes = Math.round(h * 60);
  return `${Math.floor(minutes / 60)}:${String(minutes % 60).padStart(2, '0')}`;
}

function polyline(minutes: readonly MinuteRecord[], value: (m: MinuteRecord) => number, x: (s: number) => number, y: (f: number) => number, color: string, width: number, bucket: number): string {
  const points = minutes.map((m) => `${x((m.minute + bucket / 2) * 60).toFixed(1)},${y(Math.min(1, value(m))).toFixed(1)}`);
  return `<polyline fill="none" stroke="${color}" stroke-width="${width}" points="${points.join(' ')}"/>`;
}

/** The fleet size as steps: a point only where it changes (a day has a few dozen). */
function steps(seconds: readonly SecondRecord[], max: number, x: (s: number) => number, y: (f: number) => number, color: string, dash: string | undefined, width: number): string {
  const points: string[] = [];
  let level: number | undefined;
  for (const s of seconds) {
    if (s.members === level) continue;
    if (level !== undefined) points.push(`${x(s.t).toFixed(1)},${y(level / max).toFixed(1)}`);
    level = s.members;
    points.push(`${x(s.t).toFixed(1)},${y(level / max).toFixed(1)}`);
  }
  if (level !== undefined && seconds.length > 0) points.push(`${x(seconds.length).toFixed(1)},${y(level / max).toFixed(1)}`);
  return `<polyline fill="none" stroke="${color}" stroke-width="${width}"${dash ? ` stroke-dasharray="${dash}"` : ''} points="${points.join(' ')}"/>`;
}

/** Minutes merged into buckets of `size` minutes (means), so a long run draws a few hundred points per line. */
function buckets(minutes: readonly MinuteRecord[], size: number): MinuteRecord[] {
  if (size <= 1) return [...minutes];
  const out: MinuteRecord[] = [];
  for (let i = 0; i < minutes.length; i += size) {
    const group = minutes.slice(i, i + size);
    const mean = (f: (m: MinuteRecord) => number) => group.reduce((a, m) => a + f(m), 0) / group.length;
    out.push({ minute: group[0].minute, rate: mean((m) => m.rate), members: mean((m) => m.members), busy: mean((m) => m.busy), p95Ms: mean((m) => m.p95Ms), over: group.some((m) => m.over) });
  }
  return out;
}

export interface SummaryInput {
  trace: { name: string; description: string; seconds: number };
  parameters: Record<string, unknown>;
  scores: readonly Scores[];
  runs: readonly RunRecord[];
  wallS: Record<string, number>;
}

/** The JSON summary: parameters, scores per policy, invariant violations and wall time. */
export function summaryJson(input: SummaryInput): string {
  const violations = Object.fromEntries(input.runs.map((r) => [r.policy, r.violations.slice(0, 100)]));
  return `${JSON.stringify({ trace: input.trace, parameters: input.parameters, scores: input.scores, violations, wallSeconds: input.wallS }, null, 2)}\n`;
}

/** Writes summary.json, run.csv, events.csv and chart.svg into `dir` (created); returns their paths. */
export function writeOutputs(dir: string, input: SummaryInput & { objective: Objective }): string[] {
  mkdirSync(dir, { recursive: true });
  const files: Array<[string, string]> = [
    [OUTPUT_FILES.summary, summaryJson(input)],
    [OUTPUT_FILES.seconds, secondsCsv(input.runs)],
    [OUTPUT_FILES.events, eventsCsv(input.runs)],
    [OUTPUT_FILES.chart, chartSvg(input.runs, input.objective, `${input.trace.name}: ${input.runs.map((r) => r.policy).join(', ')}`)],
  ];
  return files.map(([name, content]) => {
    const path = join(dir, name);
    writeFileSync(path, content);
    return path;
  });
}
