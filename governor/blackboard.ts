import type { BlackboardApi, Series, SeriesSummary, WatchCallback } from './blackboard-types.js';
import type { Clock } from './clock.js';
import { RingSeries, assertSeriesCapacity } from './series.js';

export interface BlackboardOptions {
  /** Samples each series keeps (default 3600: an hour at one sample per second). */
  seriesCapacity?: number;
  /** Told about a watcher that threw (the write itself always completes). Default: ignored. */
  onWatcherError?: (err: unknown, key: string) => void;
}

interface Watcher {
  /** Exact key, or the prefix before a trailing `*`. */
  match: string;
  prefix: boolean;
  fn: WatchCallback;
}

/**
 * The shared state dictionary (see BlackboardApi). Values are stored by reference: writers
 * replace a value with `set` rather than mutate it, so watchers see every change.
 * Watchers run synchronously after the write, in subscription order.
 */
export class Blackboard implements BlackboardApi {
  private readonly values = new Map<string, unknown>();
  private readonly seriesByName = new Map<string, RingSeries>();
  private readonly watchers = new Set<Watcher>();
  private readonly seriesCapacity: number;
  private readonly onWatcherError: (err: unknown, key: string) => void;

  constructor(
    private readonly clock: Clock,
    opts: BlackboardOptions = {},
  ) {
    this.seriesCapacity = opts.seriesCapacity ?? 3600;
    this.onWatcherError = opts.onWatcherError ?? (() => {});
    assertSeriesCapacity(this.seriesCapacity);
  }

  get<T = unknown>(key: string): T | undefined {
    return this.values.get(key) as T | undefined;
  }

  set(key: string, value: unknown): void {
    assertKey(key);
    this.values.set(key, value);
    this.notify(key, value);
  }

  delete(key: string): boolean {
    const existed = this.values.delete(key);
    if (existed) this.notify(key, undefined);
    return existed;
  }

  has(key: string): boolean {
    return this.values.has(key);
  }

  keys(prefix = ''): string[] {
    return [...this.values.keys()].filter((k) => k.startsWith(prefix)).sort();
  }

  watch(pattern: string, fn: WatchCallback): () => void {
    assertKey(pattern);
    const prefix = pattern.endsWith('*');
    const watcher: Watcher = { match: prefix ? pattern.slice(0, -1) : pattern, prefix, fn };
    this.watchers.add(watcher);
    return () => {
      this.watchers.delete(watcher);
    };
  }

  series(name: string): Series {
    assertKey(name);
    let series = this.seriesByName.get(name);
    if (!series) {
      series = new RingSeries(this.clock, this.seriesCapacity);
      this.seriesByName.set(name, series);
    }
    return series;
  }

  existingSeries(name: string): Series | undefined {
    return this.seriesByName.get(name);
  }

  seriesNames(): string[] {
    return [...this.seriesByName.keys()].sort();
  }

  snapshot(): { values: Record<string, unknown>; series: Record<string, SeriesSummary> } {
    const values: Record<string, unknown> = {};
    for (const key of this.keys()) values[key] = toJsonSafe(this.values.get(key));
    const series: Record<string, SeriesSummary> = {};
    for (const name of this.seriesNames()) {
      const s = this.seriesByName.get(name)!;
      series[name] = {
        last: s.last() ?? null,
        avg1m: s.avg(60),
        avg5m: s.avg(300),
        avg15m: s.avg(900),
        samples: s.count(Infinity),
      };
    }
    return { values, series };
  }

  private notify(key: string, value: unknown): void {
    if (this.watchers.size === 0) return;
    for (const w of [...this.watchers]) {
      if (w.prefix ? !key.startsWith(w.match) : key !== w.match) continue;
      try {
        w.fn(key, value);
      } catch (err) {
        this.onWatcherError(err, key);
      }
    }
  }
}

function assertKey(key: string): void {
  if (typeof key !== 'string' || key.length === 0) {
    throw new TypeError(`blackboard key must be a non-empty string, got ${JSON.stringify(key)}`);
  }
}

/**
 * A JSON-safe deep copy: non-finite numbers become null, bigints strings, Dates ISO strings,
 * Maps objects, Sets arrays, Errors {name, message, code}; functions, symbols and undefined
 * object members are dropped (undefined in arrays becomes null); a cycle becomes '[Circular]'.
 */
export function toJsonSafe(value: unknown, ancestors: object[] = []): unknown {
  switch (typeof value) {
    case 'number':
      return Number.isFinite(value) ? value : null;
    case 'bigint':
      return value.toString();
    case 'string':
    case 'boolean':
      return value;
    case 'object':
      break;
    default:
      return undefined;
  }
  if (value === null) return null;
  if (ancestors.includes(value)) return '[Circular]';
  if (value instanceof Date) return Number.isFinite(value.getTime()) ? value.toISOString() : null;
  if (value instanceof Error) {
    return { name: value.name, message: value.message, code: toJsonSafe((value as { code?: unknown }).code) };
  }
  const inner = [...ancestors, value];
  if (Array.isArray(value) || value instanceof Set) {
    return [...value].map((item) => toJsonSafe(item, inner) ?? null);
  }
  const entries = value instanceof Map ? [...value.entries()] : Object.entries(value);
  const out: Record<string, unknown> = {};
  for (const [k, v] of entries) {
    const safe = toJsonSafe(v, inner);
    if (safe !== undefined) out[String(k)] = safe;
  }
  return out;
}
