/**
 * The blackboard contract: the state dictionary every task shares (DESIGN.md, "Signals" to
 * "Actions"). Implemented by `Blackboard` in ./blackboard.ts.
 */

/** A bounded time series of numeric samples with window queries. */
export interface SeriesReader {
  /** Most recent sample value, or undefined when empty. */
  last(): number | undefined;
  /** Aggregates over samples taken in the last `seconds` (relative to clock.now()); null when none. */
  avg(seconds: number): number | null;
  min(seconds: number): number | null;
  max(seconds: number): number | null;
  /** Nearest-rank percentile, p in [0, 100]. */
  percentile(p: number, seconds: number): number | null;
  count(seconds: number): number;
  /**
   * Seconds the series has stayed continuously above (strictly) `threshold`, counted back from
   * the newest sample to the first sample that was not above it (or to the oldest held sample).
   * 0 when the newest sample is not above it or the series is empty.
   */
  secondsAbove(threshold: number): number;
  /** Same as secondsAbove, for strictly below. */
  secondsBelow(threshold: number): number;
  /** Seconds between the oldest held sample and now: how much history a window can see. */
  coveredSeconds(): number;
  /** The samples of the last `seconds` (same window as avg) as [at, value] pairs, oldest first. */
  points(seconds: number): Array<[at: number, value: number]>;
}

export interface Series extends SeriesReader {
  /** Appends a sample at `at` (default clock.now()). Oldest samples are dropped beyond capacity. */
  push(value: number, at?: number): void;
}

export type WatchCallback = (key: string, value: unknown) => void;

export interface BlackboardApi {
  get<T = unknown>(key: string): T | undefined;
  set(key: string, value: unknown): void;
  /** Returns whether the key existed. Watchers see `undefined`. */
  delete(key: string): boolean;
  has(key: string): boolean;
  /** Keys, optionally only those starting with `prefix`. */
  keys(prefix?: string): string[];
  /**
   * Calls `fn` after every set/delete of `pattern`; a pattern ending in `*` matches the prefix
   * before it. Returns an unsubscribe function. A watcher that throws never breaks the writer.
   */
  watch(pattern: string, fn: WatchCallback): () => void;
  /** The named series, created with the default capacity when missing. */
  series(name: string): Series;
  /** The named series when someone created it; undefined otherwise (reading never creates one). */
  existingSeries(name: string): Series | undefined;
  /** Names of all series. */
  seriesNames(): string[];
  /** JSON-safe copy: every key's value plus, per series, last value and 1/5/15-minute averages. */
  snapshot(): { values: Record<string, unknown>; series: Record<string, SeriesSummary> };
}

export interface SeriesSummary {
  last: number | null;
  avg1m: number | null;
  avg5m: number | null;
  avg15m: number | null;
  samples: number;
}
