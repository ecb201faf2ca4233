import { readFileSync } from 'node:fs';
import { GovError } from '../errors.js';
import { seededRng, type Rng } from './rng.js';

/**
 * A traffic trace: the request rate offered to the fleet, second by second.
 *
 * Contract: `rates[s]` is the mean rate (requests/s, finite, >= 0) during second s from the
 * start; `attack.rates[s]` (at most `rates[s]`) of it is sent by `attack.addresses` attacking
 * addresses, split evenly (none without `attack`); `clients[s]`, when present, is how many
 * distinct client addresses send the rest (split evenly); absent means many (DEFAULT_CLIENTS).
 * `surge` marks a flash crowd (seconds from the start) for the recovery score.
 */
export interface Trace {
  name: string;
  description: string;
  rates: Float64Array;
  clients?: Float64Array;
  attack?: { rates: Float64Array; addresses: number };
  surge?: { at: number; until: number };
}

/** The attacking part of one second's traffic: `rate` requests/s from `addresses` addresses. */
export interface AttackTraffic {
  rate: number;
  addresses: number;
}

/** Second `t` of `trace`: its rate, the addresses sending the legitimate part, and the attack if any. */
export function trafficAt(trace: Trace, t: number): { rate: number; clients: number; attack?: AttackTraffic } {
  const rate = trace.rates[t];
  const clients = trace.clients?.[t] ?? DEFAULT_CLIENTS;
  const attackRate = trace.attack?.rates[t] ?? 0;
  return attackRate > 0 ? { rate, clients, attack: { rate: Math.min(rate, attackRate), addresses: trace.attack!.addresses } } : { rate, clients };
}

/** Distinct client addresses assumed when a trace does not say. */
export const DEFAULT_CLIENTS = 10_000;

/** Attacking addresses of the `dos` trace: few enough that the denial-of-service rule's top-3 share sees them. */
const DOS_ADDRESSES = 3;

export interface TraceOptions {
  seed: number;
  /** Length in seconds; every generator scales its shape to it. */
  durationS?: number;
  /** The trough / base rate in requests/s. */
  baseRate?: number;
}

interface Generator {
  description: string;
  defaultDurationS: number;
  build(opts: Required<TraceOptions>, rng: Rng): Omit<Trace, 'name' | 'description'>;
}

const HOUR = 3600;

/** Smooth multiplicative noise: a random factor in [1 - amp, 1 + amp] per minute, linearly interpolated. */
function smoothNoise(rng: Rng, length: number, amp: number): Float64Array {
  const knots = Array.from({ length: Math.ceil(length / 60) + 2 }, () => 1 + amp * (2 * rng() - 1));
  const out = new Float64Array(length);
  for (let s = 0; s < length; s++) {
    const k = Math.floor(s / 60);
    const f = (s % 60) / 60;
    out[s] = knots[k] * (1 - f) + knots[k + 1] * f;
  }
  return out;
}

function shaped(length: number, rng: Rng, noise: number, shape: (s: number) => number): Float64Array {
  const factor = smoothNoise(rng, length, noise);
  const rates = new Float64Array(length);
  for (let s = 0; s < length; s++) rates[s] = Math.max(0, shape(s) * factor[s]);
  return rates;
}

const gauss = (x: number, mean: number, sd: number) => Math.exp(-0.5 * ((x - mean) / sd) ** 2);

/** A linear step from 0 to 1 over [from, from + over]. */
const rise = (s: number, from: number, over: number) => Math.min(1, Math.max(0, (s - from) / over));

const GENERATORS: Record<string, Generator> = {
  diurnal: {
    description:
      'One day with two peaks at 5x the night trough: lunch (12:30) and dinner (19:30), each a Gaussian of 1.25 h standard deviation, with ±5% smooth noise. A shorter duration compresses the day.',
    defaultDurationS: 24 * HOUR,
    build({ durationS, baseRate }, rng) {
      const day = durationS / (24 * HOUR);
      const bump = (s: number) => gauss(s, 12.5 * HOUR * day, 1.25 * HOUR * day) + gauss(s, 19.5 * HOUR * day, 1.25 * HOUR * day);
      const peak = Math.max(bump(12.5 * HOUR * day), bump(19.5 * HOUR * day));
      return { rates: shaped(durationS, rng, 0.05, (s) => baseRate * (1 + (4 * bump(s)) / peak)) };
    },
  },
  'flash-crowd': {
    description:
      'A steady base rate; at one third of the duration the rate climbs linearly to 10x within 60 s, holds for 20 min, and falls back within 2 min; ±3% smooth noise.',
    defaultDurationS: 2 * HOUR,
    build({ durationS, baseRate }, rng) {
      const at = Math.floor(durationS / 3);
      const hold = Math.min(20 * 60, Math.max(60, durationS - at - 180));
      const until = at + 60 + hold;
      const shape = (s: number) => baseRate * (1 + 9 * (s < until ? rise(s, at, 60) : 1 - rise(s, until, 120)));
      return { rates: shaped(durationS, rng, 0.03, shape), surge: { at, until } };
    },
  },
  'slow-ramp': {
    description: 'The rate climbs linearly from the base to 8x over the first five sixths of the duration, then holds; ±5% smooth noise.',
    defaultDurationS: 6 * HOUR,
    build({ durationS, baseRate }, rng) {
      return { rates: shaped(durationS, rng, 0.05, (s) => baseRate * (1 + 7 * rise(s, 0, (5 * durationS) / 6))) };
    },
  },
  dos: {
    description:
      'A steady base rate from 10,000 client addresses; at one third of the duration 3 addresses add 8x the base for 20 min (a denial-of-service burst); ±3% smooth noise.',
    defaultDurationS: 2 * HOUR,
    build({ durationS, baseRate }, rng) {
      const at = Math.floor(durationS / 3);
      const until = Math.min(durationS, at + 20 * 60);
      const attacking = (s: number) => s >= at && s < until;
      const rates = shaped(durationS, rng, 0.03, (s) => baseRate * (attacking(s) ? 9 : 1));
      const attackRates = rates.map((rate, s) => (attacking(s) ? (rate * 8) / 9 : 0));
      return { rates, attack: { rates: attackRates, addresses: DOS_ADDRESSES } };
    },
  },
};

export const TRACE_NAMES: readonly string[] = Object.keys(GENERATORS);

/** What a named trace is, for help texts and the README. */
export function describeTrace(name: string): string {
  return GENERATORS[name]?.description ?? '';
}

/** Generates a named trace; the same name and options give the same trace. */
export function generateTrace(name: string, opts: TraceOptions): Trace {
  const generator = GENERATORS[name];
  if (!generator) {
    throw new GovError('GOV_ERR_SIM_TRACE', `unknown trace "${name}": expected one of ${TRACE_NAMES.join(', ')} or a CSV file`, { name });
  }
  const durationS = Math.floor(opts.durationS ?? generator.defaultDurationS);
  const baseRate = opts.baseRate ?? 150;
  if (!(durationS >= 60) || !(baseRate > 0)) {
    throw new GovError('GOV_ERR_SIM_INVALID', `trace ${name}: duration must be at least 60 s and the base rate above 0; got ${durationS} s, ${baseRate} req/s`, {
      durationS,
      baseRate,
    });
  }
  const built = generator.build({ seed: opts.seed, durationS, baseRate }, seededRng(opts.seed));
  return { name, description: generator.description, ...built };
}

function traceError(file: string, line: number, message: string): GovError {
  return new GovError('GOV_ERR_SIM_TRACE', `${file}:${line}: ${message}`, { file, line });
}

/** A CSV time field: seconds from the start, or an ISO 8601 timestamp (made relative to the first row). */
function parseTime(text: string): { seconds: number; absolute: boolean } | undefined {
  if (/^-?\d+(\.\d+)?$/.test(text)) return { seconds: Number(text), absolute: false };
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? undefined : { seconds: ms / 1000, absolute: true };
}

/**
 * Reads a trace from CSV text: one row per point, `time,rate[,clients]`; an optional header row
 * (a first row whose time is not a time); blank lines and lines starting with # are skipped.
 * `time` is seconds from the start or an ISO 8601 timestamp (all rows alike), strictly
 * increasing; `rate` is requests/s >= 0; `clients` a count >= 1. Between points the rate and
 * clients are interpolated linearly, second by second; the trace ends one second after the last
 * point. Every problem is a GOV_ERR_SIM_TRACE naming the file and line.
 */
export function parseCsvTrace(text: string, file: string): Trace {
  const points: Array<{ t: number; rate: number; clients?: number }> = [];
  let absolute: boolean | undefined;
  let firstRow = true;
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  lines.forEach((raw, index) => {
    const lineNo = index + 1;
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const cells = line.split(',').map((c) => c.trim());
    const time = parseTime(cells[0]);
    const header = firstRow && !time;
    firstRow = false;
    if (header) return;
    if (!time) throw traceError(file, lineNo, `time must be seconds or an ISO 8601 timestamp, got "${cells[0]}"`);
    if (cells.length < 2 || cells.length > 3) throw traceError(file, lineNo, `expected time,rate[,clients], got ${cells.length} column(s)`);
    if (absolute !== undefined && absolute !== time.absolute) throw traceError(file, lineNo, 'mixes timestamps and seconds in the time column');
    absolute = time.absolute;
    const rate = Number(cells[1]);
    if (cells[1] === '' || !Number.isFinite(rate) || rate < 0) throw traceError(file, lineNo, `rate must be a number >= 0, got "${cells[1]}"`);
    let clients: number | undefined;
    if (cells.length === 3) {
      clients = Number(cells[2]);
      if (cells[2] === '' || !Number.isFinite(clients) || clients < 1) throw traceError(file, lineNo, `clients must be a number >= 1, got "${cells[2]}"`);
    }
    const previous = points.at(-1);
    if (previous && !(time.seconds > previous.t)) throw traceError(file, lineNo, `time must increase: ${cells[0]} is not after the previous row`);
    points.push({ t: time.seconds, rate, clients });
  });
  if (points.length === 0) throw traceError(file, lines.length, 'no data rows (expected time,rate[,clients])');
  const origin = points[0].t;
  const length = Math.max(1, Math.floor(points.at(-1)!.t - origin) + 1);
  if (length > 31 * 24 * HOUR) throw traceError(file, lines.length, `the trace spans ${length} s; at most 31 days are supported`);
  const rates = new Float64Array(length);
  const hasClients = points.some((p) => p.clients !== undefined);
  const clients = hasClients ? new Float64Array(length) : undefined;
  let k = 0;
  for (let s = 0; s < length; s++) {
    const t = origin + s;
    while (k + 1 < points.length && points[k + 1].t <= t) k++;
    const a = points[k];
    const b = points[k + 1];
    const f = b ? (t - a.t) / (b.t - a.t) : 0;
    rates[s] = a.rate + (b ? (b.rate - a.rate) * f : 0);
    if (clients) {
      const ca = a.clients ?? DEFAULT_CLIENTS;
      const cb = b?.clients ?? DEFAULT_CLIENTS;
      clients[s] = ca + (b ? (cb - ca) * f : 0);
    }
  }
  return { name: file, description: `replayed from ${file} (${points.length} points)`, rates, clients };
}

/** Reads a CSV trace file (see parseCsvTrace). */
export function readCsvTrace(file: string): Trace {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new GovError('GOV_ERR_SIM_TRACE', `cannot read trace file ${file}: ${(err as Error).message}`, { file }, { cause: err });
  }
  return parseCsvTrace(text, file);
}

/** A trace by name, or from a CSV file when the argument is not a known name. */
export function resolveTrace(nameOrFile: string, opts: TraceOptions): Trace {
  return GENERATORS[nameOrFile] ? generateTrace(nameOrFile, opts) : readCsvTrace(nameOrFile);
}
