import { Agent, request, type ClientRequest } from 'node:http';
import { isIPv4 } from 'node:net';
import { RealClock, type Clock, type TimerHandle } from '../clock.js';
import { GovError } from '../errors.js';
import { Histogram } from '../../proxy/histogram.js';
import { plannedBy, type RatePlan } from './load-schedule.js';

/** Hard bounds of one run: a load run is always finite and small enough for one machine. */
export const LOAD_LIMITS = {
  maxRate: 5_000,
  maxDurationSec: 3_600,
  maxSteps: 100,
  maxConcurrency: 1_000,
  maxRequestTimeoutMs: 60_000,
} as const;

const PUMP_MS = 10;
const TICK_MS = 1_000;

export interface LoadOptions {
  /** Base URL; only http on 127.0.0.0/8, [::1] or localhost is accepted. */
  target: string;
  mode: 'steps' | 'ramp';
  /** Requests per second at the end of the run (for one step: throughout). */
  rate: number;
  /** Requests per second at the start (see load-schedule.ts). Default 0. */
  fromRate?: number;
  durationSec: number;
  /** Plateaus in steps mode. Default 1. */
  steps?: number;
  /** Path and query to request; default the target's own path. */
  path?: string;
  /** Requests open at once at most; a request due while all are busy is dropped (counted). Default 256. */
  maxConcurrency?: number;
  /** A request open this long is abandoned and counted as an error. Default 10000. */
  requestTimeoutMs?: number;
  /** Fleet size shown on each tick; called once per second at most, failures show as unknown. */
  fleetSize?: () => Promise<number | undefined>;
  onTick?: (tick: LoadTick) => void;
  /** Aborting stops sending and cuts open requests; the report says `aborted`. */
  signal?: AbortSignal;
  clock?: Clock;
}

/** One line of the live view: what happened since the previous tick. */
export interface LoadTick {
  /** Seconds since the start (rounded). */
  second: number;
  /** What the plan asked for over the interval, req/s. */
  targetRate: number;
  /** Requests sent per second. */
  sentRate: number;
  /** Responses (and failures) completed per second: the rate achieved. */
  rate: number;
  /** Non-2xx/3xx responses and network errors. */
  errors: number;
  /** Requests not sent because maxConcurrency were open. */
  drops: number;
  inFlight: number;
  p50Ms: number;
  p99Ms: number;
  fleetSize?: number;
}

export interface LoadReport {
  url: string;
  mode: 'steps' | 'ramp';
  durationSec: number;
  elapsedSec: number;
  /** Requests the plan called for (sent + dropped, unless aborted). */
  planned: number;
  sent: number;
  completed: number;
  ok: number;
  errors: number;
  /** Errors by kind: `http_<status>`, a network error code, or `timeout`. */
  errorsByKind: Record<string, number>;
  drops: number;
  /** Requests cut by an abort (not errors). */
  cancelled: number;
  /** Completed per second over the run's duration. */
  achievedRate: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  aborted: boolean;
}

function isLoopbackHost(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || (isIPv4(hostname) && hostname.startsWith('127.'));
}

function checkNumber(problems: string[], name: string, value: number | undefined, min: number, max: number, integer = false): void {
  if (value === undefined) return;
  if (!Number.isFinite(value) || value < min || value > max || (integer && !Number.isInteger(value))) {
    problems.push(`${name} must be ${integer ? 'an integer' : 'a number'} from ${min} to ${max}, got ${value}`);
  }
}

/** Validates a run before anything is sent; every problem is listed in one GOV_ERR_LOAD_INVALID. */
export function validateLoad(opts: LoadOptions): { url: URL; plan: RatePlan } {
  const problems: string[] = [];
  let url: URL | undefined;
  try {
    url = new URL(opts.target);
  } catch {
    problems.push(`target must be a URL such as http://127.0.0.1:8080, got ${JSON.stringify(opts.target)}`);
  }
  if (url && url.protocol !== 'http:') problems.push(`target must use http:, got ${url.protocol}`);
  if (url && !isLoopbackHost(url.hostname)) {
    problems.push(
      `target ${url.hostname} is not on this machine: load is only sent to 127.0.0.0/8, [::1] or localhost`,
    );
  }
  if (opts.mode !== 'steps' && opts.mode !== 'ramp') problems.push(`mode must be steps or ramp, got ${String(opts.mode)}`);
  if (opts.rate <= 0) problems.push(`rate must be above 0, got ${opts.rate}`);
  checkNumber(problems, 'rate', opts.rate, 0, LOAD_LIMITS.maxRate);
  checkNumber(problems, 'fromRate', opts.fromRate, 0, LOAD_LIMITS.maxRate);
  if (opts.durationSec <= 0) problems.push(`durationSec must be above 0, got ${opts.durationSec}`);
  checkNumber(problems, 'durationSec', opts.durationSec, 0, LOAD_LIMITS.maxDurationSec);
  checkNumber(problems, 'steps', opts.steps, 1, LOAD_LIMITS.maxSteps, true);
  checkNumber(problems, 'maxConcurrency', opts.maxConcurrency, 1, LOAD_LIMITS.maxConcurrency, true);
  checkNumber(problems, 'requestTimeoutMs', opts.requestTimeoutMs, 1, LOAD_LIMITS.maxRequestTimeoutMs, true);
  if (opts.path !== undefined && !opts.path.startsWith('/')) problems.push(`path must start with /, got ${JSON.stringify(opts.path)}`);
  if (problems.length > 0 || url === undefined) {
    throw new GovError('GOV_ERR_LOAD_INVALID', `load refused: ${problems.join('; ')}`, { problems });
  }
  if (opts.path !== undefined) url = new URL(opts.path, url);
  return {
    url,
    plan: {
      mode: opts.mode,
      rate: opts.rate,
      fromRate: opts.fromRate ?? 0,
      durationSec: opts.durationSec,
      steps: opts.mode === 'steps' ? (opts.steps ?? 1) : 1,
    },
  };
}

const pad = (value: number | string, width: number) => String(value).padStart(width);

/** The CLI's live line for one tick. */
export function formatLoadTick(tick: LoadTick): string {
  return [
    `${pad(tick.second, 4)}s`,
    `target ${pad(Math.round(tick.targetRate), 5)}/s`,
    `rate ${pad(Math.round(tick.rate), 5)}/s`,
    `errors ${pad(tick.errors, 4)}`,
    `drops ${pad(tick.drops, 4)}`,
    `p50 ${pad(tick.p50Ms, 5)} ms`,
    `p99 ${pad(tick.p99Ms, 5)} ms`,
    `in flight ${pad(tick.inFlight, 4)}`,
    `fleet ${tick.fleetSize ?? '?'}`,
  ].join('  ');
}

/**
 * Open-loop load at a fixed schedule: requests are sent when the plan says, whether or not
 * earlier ones have answered (so a slow server shows as latency and drops, not as a politely
 * lower rate). Strictly bounded: validated limits, at most `planned` requests, sending stops at
 * `durationSec`, and every request ends within `requestTimeoutMs`. Latency has 1 ms resolution.
 * Resolves with the totals once every request has ended.
 */
export async function runLoad(opts: LoadOptions): Promise<LoadReport> {
  const { url, plan } = validateLoad(opts);
  const clock = opts.clock ?? new RealClock();
  const maxConcurrency = opts.maxConcurrency ?? 256;
  const requestTimeoutMs = opts.requestTimeoutMs ?? 10_000;
  const agent = new Agent({ keepAlive: true, maxSockets: maxConcurrency });
  const open = new Set<ClientRequest>();
  const total = { sent: 0, ok: 0, errors: 0, drops: 0, cancelled: 0, latency: new Histogram() };
  const errorsByKind: Record<string, number> = {};
  const window = { sent: 0, completed: 0, errors: 0, drops: 0, latency: new Histogram() };
  const start = clock.now();
  let issued = 0;
  let sending = true;
  let aborted = false;
  let nextTickSec = 1;
  let lastTickAt = start;
  let fleetSize: number | undefined;
  let fleetCall: Promise<void> | undefined;
  let pumpTimer: TimerHandle | undefined;
  let tickTimer: TimerHandle | undefined;
  let holdingLastTick = false;
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => (finish = resolve));

  const refreshFleetSize = (): void => {
    if (!opts.fleetSize || fleetCall) return;
    fleetCall = opts
      .fleetSize()
      .then((n) => (fleetSize = n), () => (fleetSize = undefined))
      .then(() => (fleetCall = undefined));
  };

  const emitTick = (): void => {
    const now = clock.now();
    const fromSec = (lastTickAt - start) / 1000;
    const toSec = (now - start) / 1000;
    const intervalSec = Math.max(now - lastTickAt, 1) / 1000;
    lastTickAt = now;
    opts.onTick?.({
      second: Math.round(toSec),
      targetRate: (plannedBy(plan, toSec) - plannedBy(plan, fromSec)) / intervalSec,
      sentRate: window.sent / intervalSec,
      rate: window.completed / intervalSec,
      errors: window.errors,
      drops: window.drops,
      inFlight: open.size,
      p50Ms: window.latency.percentile(0.5),
      p99Ms: window.latency.percentile(0.99),
      fleetSize,
    });
    window.sent = window.completed = window.errors = window.drops = 0;
    window.latency.reset();
    refreshFleetSize();
  };

  const finishRun = (): void => {
    if (tickTimer !== undefined) clock.clearTimeout(tickTimer);
    agent.destroy();
    finish();
  };

  /**
   * Ticks fall on whole seconds from the start. The first tick after sending stopped waits for
   * the open requests (at most one more second), so the last line covers them.
   */
  const onTickTimer = (tickSec: number): void => {
    tickTimer = undefined;
    if (sending) pump(tickSec);
    if (!sending && open.size > 0 && !holdingLastTick) {
      holdingLastTick = true;
      scheduleTick();
      return;
    }
    emitTick();
    if (!sending && open.size === 0) finishRun();
    else scheduleTick();
  };

  const scheduleTick = (): void => {
    const tickSec = nextTickSec++;
    tickTimer = clock.setTimeout(() => onTickTimer(tickSec), start + tickSec * TICK_MS - clock.now());
  };

  const endIfDone = (): void => {
    if (sending || open.size > 0) return;
    if (aborted) finishRun();
    else if (holdingLastTick) {
      emitTick();
      finishRun();
    }
  };

  const fire = (): void => {
    if (open.size >= maxConcurrency) {
      total.drops++;
      window.drops++;
      return;
    }
    const sentAt = clock.now();
    let ended = false;
    const end = (errorKind?: string): void => {
      if (ended) return;
      ended = true;
      open.delete(req);
      if (aborted) {
        total.cancelled++;
      } else {
        const ms = clock.now() - sentAt;
        total.latency.record(ms);
        window.latency.record(ms);
        window.completed++;
        if (errorKind === undefined) {
          total.ok++;
        } else {
          total.errors++;
          window.errors++;
          errorsByKind[errorKind] = (errorsByKind[errorKind] ?? 0) + 1;
        }
      }
      endIfDone();
    };
    let responded = false;
    const req = request(url, { agent, timeout: requestTimeoutMs }, (res) => {
      responded = true;
      const status = res.statusCode ?? 0;
      res.resume();
      res.on('end', () => end(status >= 200 && status < 400 ? undefined : `http_${status}`));
      res.on('close', () => end(res.complete ? undefined : 'ECONNRESET'));
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('request timed out'), { code: 'timeout' })));
    req.on('error', (err: NodeJS.ErrnoException) => end(err.code ?? 'network'));
    req.on('close', () => {
      if (!responded) end('ECONNRESET');
    });
    open.add(req);
    total.sent++;
    window.sent++;
    req.end();
  };

  const stopSending = (): void => {
    sending = false;
    if (pumpTimer !== undefined) clock.clearTimeout(pumpTimer);
    endIfDone();
  };

  /** Sends what the plan has due by now, or by `atLeastSec` (a tick's own second: timers may fire a little early). */
  const pump = (atLeastSec = 0): void => {
    if (pumpTimer !== undefined) clock.clearTimeout(pumpTimer);
    pumpTimer = undefined;
    const elapsedSec = Math.max((clock.now() - start) / 1000, atLeastSec);
    const due = Math.floor(plannedBy(plan, elapsedSec) + 1e-9);
    while (issued < due) {
      issued++;
      fire();
    }
    if (elapsedSec >= plan.durationSec) stopSending();
    else pumpTimer = clock.setTimeout(() => pump(), PUMP_MS);
  };

  const onAbort = (): void => {
    aborted = true;
    for (const req of open) req.destroy();
    stopSending();
  };

  if (opts.signal?.aborted) {
    aborted = true;
    sending = false;
    endIfDone();
  } else {
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    refreshFleetSize();
    scheduleTick();
    pump();
  }
  await finished;
  opts.signal?.removeEventListener('abort', onAbort);

  const elapsedSec = (clock.now() - start) / 1000;
  const completed = total.ok + total.errors;
  return {
    url: url.href,
    mode: plan.mode,
    durationSec: plan.durationSec,
    elapsedSec,
    planned: aborted ? issued : Math.floor(plannedBy(plan, plan.durationSec) + 1e-9),
    sent: total.sent,
    completed,
    ok: total.ok,
    errors: total.errors,
    errorsByKind,
    drops: total.drops,
    cancelled: total.cancelled,
    achievedRate: completed / Math.min(Math.max(elapsedSec, 0.001), plan.durationSec),
    p50Ms: total.latency.percentile(0.5),
    p99Ms: total.latency.percentile(0.99),
    maxMs: total.latency.max,
    aborted,
  };
}
