import type { Series } from './blackboard-types.js';
import type { Clock } from './clock.js';

/**
 * A bounded time series over two preallocated Float64Arrays (times and values) used as one
 * ring: memory is fixed at construction however many samples are pushed (plus a few numbers per
 * threshold queried with secondsAbove / secondsBelow, at most MAX_RUN_MEMOS of each).
 *
 * Cost: push, last, count and avg are O(1) or O(log n) (avg from running sums, see `sums`); min,
 * max and points O(samples in the window); percentile adds a sort of the window (in a scratch
 * buffer shared by every series, so no allocation); secondsAbove / secondsBelow examine only
 * the samples pushed since the previous query with the same threshold (O(n) the first time).
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
  /**
   * Running sums: sums[slot] is the sum of the values pushed since the last rebase up to and
   * including that slot's, so the sum of the newest n values is a difference of two entries.
   * `evicted` is the running sum at the sample before the oldest held one (0 when none was
   * dropped since the rebase). Every `capacity` pushes the sums are rebased to start at the
   * oldest held sample, which keeps them near the window's magnitude (bounded rounding error).
   */
  private readonly sums: Float64Array;
  private evicted = 0;
  /** Samples pushed since construction; the newest has sequence number pushed - 1 and sits at (pushed - 1) % capacity. */
  private pushed = 0;
  private size = 0;
  /** secondsAbove / secondsBelow memory per threshold (see secondsWhile). */
  private readonly runsAbove = new Map<number, RunMemo>();
  private readonly runsBelow = new Map<number, RunMemo>();

  constructor(
    private readonly clock: Clock,
    readonly capacity: number,
  ) {
    assertSeriesCapacity(capacity);
    this.times = new Float64Array(capacity);
    this.values = new Float64Array(capacity);
    this.sums = new Float64Array(capacity);
  }

  push(value: number, at: number = this.clock.now()): void {
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      throw new RangeError(`series sample must be a finite number, got ${String(value)}`);
    }
    if (typeof at !== 'number' || !Number.isFinite(at)) {
      throw new RangeError(`series sample time must be a finite number of ms, got ${String(at)}`);
    }
    const newest = this.size > 0 ? this.times[this.slot(this.pushed - 1)] : -Infinity;
    const previousSum = this.size > 0 ? this.sums[this.slot(this.pushed - 1)] : this.evicted;
    const slot = this.slot(this.pushed);
    if (this.size === this.capacity) this.evicted = this.sums[slot];
    this.times[slot] = Math.max(at, newest);
    this.values[slot] = value;
    this.sums[slot] = previousSum + value;
    this.pushed++;
    if (this.size < this.capacity) this.size++;
    if (slot === this.capacity - 1) this.rebaseSums();
  }

  /** Subtracts `evicted` from every running sum (O(capacity), once per capacity pushes). */
  private rebaseSums(): void {
    const base = this.evicted;
    if (base === 0) return;
    for (let i = 0; i < this.size; i++) this.sums[i] -= base;
    this.evicted = 0;
  }

  last(): number | undefined {
    return this.size > 0 ? this.values[this.slot(this.pushed - 1)] : undefined;
  }

  avg(seconds: number): number | null {
    const n = this.countInWindow(seconds);
    if (n === 0) return null;
    const newest = this.sums[this.slot(this.pushed - 1)];
    const before = n === this.size ? this.evicted : this.sums[this.slot(this.pushed - 1 - n)];
    return (newest - before) / n;
  }

  min(seconds: number): number | null {
    const n = this.countInWindow(seconds);
    return n === 0 ? null : this.fold(n, Math.min);
  }

  max(seconds: number): number | null {
    const n = this.countInWindow(seconds);
    return n === 0 ? null : this.fold(n, Math.max);
  }

  percentile(p: number, seconds: number): number | null {
    if (typeof p !== 'number' || !(p >= 0 && p <= 100)) {
      throw new RangeError(`percentile must be within [0, 100], got ${String(p)}`);
    }
    const n = this.countInWindow(seconds);
    if (n === 0) return null;
    const window = scratch(n);
    const first = this.slot(this.pushed - n);
    const newest = this.slot(this.pushed - 1);
    if (first <= newest) {
      window.set(this.values.subarray(first, newest + 1));
    } else {
      window.set(this.values.subarray(first));
      window.set(this.values.subarray(0, newest + 1), this.capacity - first);
    }
    window.sort();
    const rank = Math.max(1, Math.ceil((p / 100) * n));
    return window[rank - 1];
  }

  count(seconds: number): number {
    return this.countInWindow(seconds);
  }

  secondsAbove(threshold: number): number {
    return this.secondsWhile(this.runsAbove, threshold, (v) => v > threshold);
  }

  secondsBelow(threshold: number): number {
    return this.secondsWhile(this.runsBelow, threshold, (v) => v < threshold);
  }

  coveredSeconds(): number {
    if (this.size === 0) return 0;
    const oldest = this.times[this.slot(this.pushed - this.size)];
    return Math.max(0, (this.clock.now() - oldest) / 1000);
  }

  points(seconds: number): Array<[at: number, value: number]> {
    const n = this.countInWindow(seconds);
    const out = new Array<[number, number]>(n);
    for (let i = 0; i < n; i++) {
      const slot = this.slot(this.pushed - n + i);
      out[i] = [this.times[slot], this.values[slot]];
    }
    return out;
  }

  /** Ring slot of the sample with sequence number `seq` (held samples only). */
  private slot(seq: number): number {
    return seq % this.capacity;
  }

  /**
   * How many of the newest samples fall inside the window: a binary search over the held
   * samples, which are time-ordered.
   */
  private countInWindow(seconds: number): number {
    if (typeof seconds !== 'number' || Number.isNaN(seconds) || seconds < 0) {
      throw new RangeError(`window must be a non-negative number of seconds, got ${String(seconds)}`);
    }
    const cutoff = this.clock.now() - seconds * 1000;
    const oldest = this.pushed - this.size;
    // first sequence number whose time is after the cutoff, in [oldest, pushed]
    let lo = oldest;
    let hi = this.pushed;
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      if (this.times[this.slot(mid)] > cutoff) hi = mid;
      else lo = mid + 1;
    }
    return this.pushed - lo;
  }

  /**
   * pick(...pick(pick(newest, 2nd newest), 3rd newest)..., n-th newest): newest first, as one or
   * two contiguous stretches of the ring (requires 1 <= n <= size).
   */
  private fold(n: number, pick: (a: number, b: number) => number): number {
    const values = this.values;
    const newest = this.slot(this.pushed - 1);
    const stop = Math.max(0, newest + 1 - n);
    let acc = values[newest];
    for (let i = newest - 1; i >= stop; i--) acc = pick(acc, values[i]);
    const wrapped = n - (newest + 1 - stop);
    for (let i = this.capacity - 1; i >= this.capacity - wrapped; i--) acc = pick(acc, values[i]);
    return acc;
  }

  /**
   * Newest sample's time minus the time of the newest sample that fails `holds` (or of the
   * oldest held sample when none fails). `memo` keeps, per threshold, the newest failing sample
   * among those already examined, so a query only examines the samples pushed since the last one.
   */
  private secondsWhile(memo: Map<number, RunMemo>, threshold: number, holds: (value: number) => boolean): number {
    if (this.size === 0) return 0;
    const newest = this.pushed - 1;
    const oldest = this.pushed - this.size;
    let run = memo.get(threshold);
    if (!run) {
      if (memo.size >= MAX_RUN_MEMOS) memo.clear();
      run = { failing: -1, examined: -1 };
      memo.set(threshold, run);
    }
    for (let seq = newest; seq > run.examined && seq >= oldest; seq--) {
      if (!holds(this.values[this.slot(seq)])) {
        run.failing = seq;
        break;
      }
    }
    run.examined = newest;
    if (run.failing === newest) return 0;
    const boundary = Math.max(run.failing, oldest);
    return (this.times[this.slot(newest)] - this.times[this.slot(boundary)]) / 1000;
  }
}

/** What secondsWhile remembers about one threshold: sequence numbers of samples. */
interface RunMemo {
  /** The newest failing sample among those examined; -1 when none failed. */
  failing: number;
  /** Every sample up to this one has been examined. */
  examined: number;
}

/** Thresholds remembered per direction; beyond this the memory starts afresh (rules use a handful). */
const MAX_RUN_MEMOS = 32;

let scratchBuffer = new Float64Array(64);

/** A view of n elements over one buffer shared by every series (queries are synchronous); grows as needed. */
function scratch(n: number): Float64Array {
  if (scratchBuffer.length < n) scratchBuffer = new Float64Array(Math.max(n, scratchBuffer.length * 2));
  return scratchBuffer.subarray(0, n);
}

/** Throws a RangeError unless `capacity` is a positive integer. */
export function assertSeriesCapacity(capacity: number): void {
  if (!Number.isInteger(capacity) || capacity < 1) {
    throw new RangeError(`series capacity must be a positive integer, got ${String(capacity)}`);
  }
}
