import type { Series } from './blackboard-types.js';
import type { Clock } from './clock.js';

/**
 * A bounded time series over two preallocated Float64Arrays (times and values) used as one
 * ring: memory is fixed at construction however many samples are pushed.
 *
 * Contract:
 * - Samples are kept in time order. A sample whose `at` is older than the newest one (a real
 *   clock stepped back) is recorded at the newest sample's time, so windows stay ordered.
 * - Window queries cover samples with `at > clock.now() - seconds * 1000` (a 60-second window
 *   over one sample per second holds 60 samples). `seconds` may be Infinity (every sample).
 * - Values must be finite numbers; anything else is a RangeError (a NaN would poison every
 *   aggregate silently).
 */
export class RingSeries implements Series {
  private readonly times: Float64Array;
  private readonly values: Float64Array;
  /** Index of the next write. */
  private head = 0;
  private size = 0;

  constructor(
    private readonly clock: Clock,
    readonly capacity: number,
  ) {
    assertSeriesCapacity(capacity);
    this.times = new Float64Array(capacity);
    this.values = new Float64Array(capacity);
  }

  push(value: number, at: number = this.clock.now()): void {
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      throw new RangeError(`series sample must be a finite number, got ${String(value)}`);
    }
    if (typeof at !== 'number' || !Number.isFinite(at)) {
      throw new RangeError(`series sample time must be a finite number of ms, got ${String(at)}`);
    }
    const newest = this.size > 0 ? this.times[this.indexFromNewest(0)] : -Infinity;
    this.times[this.head] = Math.max(at, newest);
    this.values[this.head] = value;
    this.head = (this.head + 1) % this.capacity;
    if (this.size < this.capacity) this.size++;
  }

  last(): number | undefined {
    return this.size > 0 ? this.values[this.indexFromNewest(0)] : undefined;
  }

  avg(seconds: number): number | null {
    const n = this.countInWindow(seconds);
    if (n === 0) return null;
    let sum = 0;
    for (let i = 0; i < n; i++) sum += this.values[this.indexFromNewest(i)];
    return sum / n;
  }

  min(seconds: number): number | null {
    return this.fold(seconds, Math.min);
  }

  max(seconds: number): number | null {
    return this.fold(seconds, Math.max);
  }

  percentile(p: number, seconds: number): number | null {
    if (typeof p !== 'number' || !(p >= 0 && p <= 100)) {
      throw new RangeError(`percentile must be within [0, 100], got ${String(p)}`);
    }
    const n = this.countInWindow(seconds);
    if (n === 0) return null;
    const window = new Float64Array(n);
    for (let i = 0; i < n; i++) window[i] = this.values[this.indexFromNewest(i)];
    window.sort();
    const rank = Math.max(1, Math.ceil((p / 100) * n));
    return window[rank - 1];
  }

  count(seconds: number): number {
    return this.countInWindow(seconds);
  }

  secondsAbove(threshold: number): number {
    return this.secondsWhile((v) => v > threshold);
  }

  secondsBelow(threshold: number): number {
    return this.secondsWhile((v) => v < threshold);
  }

  coveredSeconds(): number {
    if (this.size === 0) return 0;
    const oldest = this.times[this.indexFromNewest(this.size - 1)];
    return Math.max(0, (this.clock.now() - oldest) / 1000);
  }

  points(seconds: number): Array<[at: number, value: number]> {
    const n = this.countInWindow(seconds);
    const out = new Array<[number, number]>(n);
    for (let i = 0; i < n; i++) {
      const index = this.indexFromNewest(n - 1 - i);
      out[i] = [this.times[index], this.values[index]];
    }
    return out;
  }

  /** Ring index of the i-th newest sample (0 = newest); requires i < size. */
  private indexFromNewest(i: number): number {
    return (this.head - 1 - i + 2 * this.capacity) % this.capacity;
  }

  /** How many of the newest samples fall inside the window (samples are time-ordered). */
  private countInWindow(seconds: number): number {
    if (typeof seconds !== 'number' || Number.isNaN(seconds) || seconds < 0) {
      throw new RangeError(`window must be a non-negative number of seconds, got ${String(seconds)}`);
    }
    const cutoff = this.clock.now() - seconds * 1000;
    let n = 0;
    while (n < this.size && this.times[this.indexFromNewest(n)] > cutoff) n++;
    return n;
  }

  private fold(seconds: number, pick: (a: number, b: number) => number): number | null {
    const n = this.countInWindow(seconds);
    if (n === 0) return null;
    let acc = this.values[this.indexFromNewest(0)];
    for (let i = 1; i < n; i++) acc = pick(acc, this.values[this.indexFromNewest(i)]);
    return acc;
  }

  /** Newest sample's time minus the time of the first sample (going back) that fails `holds`. */
  private secondsWhile(holds: (value: number) => boolean): number {
    if (this.size === 0 || !holds(this.values[this.indexFromNewest(0)])) return 0;
    const newestAt = this.times[this.indexFromNewest(0)];
    let i = 1;
    while (i < this.size && holds(this.values[this.indexFromNewest(i)])) i++;
    const boundary = Math.min(i, this.size - 1);
    return (newestAt - this.times[this.indexFromNewest(boundary)]) / 1000;
  }
}

/** Throws a RangeError unless `capacity` is a positive integer. */
export function assertSeriesCapacity(capacity: number): void {
  if (!Number.isInteger(capacity) || capacity < 1) {
    throw new RangeError(`series capacity must be a positive integer, got ${String(capacity)}`);
  }
}
