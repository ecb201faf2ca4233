import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { VirtualClock } from '../../governor/virtual-clock.js';
import { RingSeries } from '../../governor/series.js';

describe('RingSeries', () => {
  let clock: VirtualClock;
  beforeEach(() => {
    clock = new VirtualClock();
  });
  afterEach(() => clock.uninstall());

  /** Pushes `values` one per second, the last one at now. */
  async function pushEverySecond(series: RingSeries, values: number[]): Promise<void> {
    for (let i = 0; i < values.length; i++) {
      if (i > 0) await clock.advance(1000);
      series.push(values[i]);
    }
  }

  it('is empty at first', () => {
    const s = new RingSeries(clock, 10);
    expect(s.last()).toBeUndefined();
    expect(s.avg(60)).toBeNull();
    expect(s.min(60)).toBeNull();
    expect(s.max(60)).toBeNull();
    expect(s.percentile(50, 60)).toBeNull();
    expect(s.count(60)).toBe(0);
    expect(s.secondsAbove(0)).toBe(0);
    expect(s.coveredSeconds()).toBe(0);
  });

  it('aggregates over a window relative to now', async () => {
    const s = new RingSeries(clock, 100);
    await pushEverySecond(s, [10, 20, 30, 40, 50]);
    expect(s.last()).toBe(50);
    expect(s.count(Infinity)).toBe(5);
    // A 3-second window holds the samples of now, now-1s and now-2s.
    expect(s.count(3)).toBe(3);
    expect(s.avg(3)).toBe(40);
    expect(s.min(3)).toBe(30);
    expect(s.max(3)).toBe(50);
    await clock.advance(2000);
    expect(s.count(3)).toBe(1);
    expect(s.avg(3)).toBe(50);
    await clock.advance(1000);
    expect(s.avg(3)).toBeNull();
    expect(s.coveredSeconds()).toBe(7);
  });

  it('computes nearest-rank percentiles', async () => {
    const s = new RingSeries(clock, 200);
    for (let v = 100; v >= 1; v--) s.push(v);
    expect(s.percentile(50, 60)).toBe(50);
    expect(s.percentile(95, 60)).toBe(95);
    expect(s.percentile(100, 60)).toBe(100);
    expect(s.percentile(0, 60)).toBe(1);
    expect(() => s.percentile(101, 60)).toThrow(RangeError);
  });

  it('measures how long it has stayed above or below a threshold', async () => {
    const s = new RingSeries(clock, 100);
    await pushEverySecond(s, [0.2, 0.9, 0.3, 0.9, 0.95, 0.85, 0.9]);
    // Continuously above 0.8 back to the sample 4 seconds before the newest (0.3).
    expect(s.secondsAbove(0.8)).toBe(4);
    expect(s.secondsAbove(0.9)).toBe(0);
    expect(s.secondsBelow(0.5)).toBe(0);
    s.push(0.1);
    expect(s.secondsBelow(0.5)).toBe(0); // same instant as the previous sample
    await clock.advance(1000);
    s.push(0.1);
    expect(s.secondsBelow(0.5)).toBe(1);
  });

  it('counts back to the oldest held sample when every sample is above', async () => {
    const s = new RingSeries(clock, 3);
    await pushEverySecond(s, [5, 5, 5, 5, 5]);
    expect(s.secondsAbove(1)).toBe(2);
    expect(s.coveredSeconds()).toBe(2);
  });

  it('drops the oldest samples beyond capacity', async () => {
    const s = new RingSeries(clock, 3);
    await pushEverySecond(s, [1, 2, 3, 4, 5]);
    expect(s.count(Infinity)).toBe(3);
    expect(s.min(Infinity)).toBe(3);
    expect(s.max(Infinity)).toBe(5);
  });

  it('keeps time order when a sample is older than the newest', () => {
    const s = new RingSeries(clock, 10);
    s.push(1);
    s.push(2, clock.now() - 60_000);
    expect(s.count(1)).toBe(2);
    expect(s.last()).toBe(2);
  });

  it('rejects bad input with a clear error', () => {
    expect(() => new RingSeries(clock, 0)).toThrow(/positive integer/);
    const s = new RingSeries(clock, 10);
    expect(() => s.push(Number.NaN)).toThrow(/finite number/);
    expect(() => s.push(1, Number.POSITIVE_INFINITY)).toThrow(/finite number of ms/);
    expect(() => s.avg(-1)).toThrow(/non-negative/);
  });

  it('lists the points of a window oldest first, across the ring wrap', async () => {
    const s = new RingSeries(clock, 4);
    expect(s.points(60)).toEqual([]);
    const start = clock.now();
    await pushEverySecond(s, [1, 2, 3, 4, 5, 6]);
    expect(s.points(Infinity)).toEqual([
      [start + 2000, 3],
      [start + 3000, 4],
      [start + 4000, 5],
      [start + 5000, 6],
    ]);
    expect(s.points(2)).toEqual([
      [start + 4000, 5],
      [start + 5000, 6],
    ]);
    expect(() => s.points(-1)).toThrow(/non-negative/);
  });

  it('stays bounded in memory over a million samples', () => {
    const s = new RingSeries(clock, 3600);
    globalThis.gc?.();
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < 1_000_000; i++) s.push(i % 100, i);
    globalThis.gc?.();
    const growth = process.memoryUsage().heapUsed - before;
    expect(s.count(Infinity)).toBe(3600);
    expect(s.capacity).toBe(3600);
    // A million retained samples would take at least 16 MB; the ring holds 3600 (~58 KB).
    expect(growth).toBeLessThan(8 * 1024 * 1024);
  });

  it('answers every query as a plain scan of the held samples would, across wraps and interleaved pushes', () => {
    /** The reference: every held sample, oldest first, each query a linear scan. */
    const scan = {
      window: (held: Array<[number, number]>, now: number, seconds: number) => held.filter(([at]) => at > now - seconds * 1000).map(([, v]) => v),
      secondsWhile(held: Array<[number, number]>, holds: (v: number) => boolean): number {
        if (held.length === 0 || !holds(held[held.length - 1][1])) return 0;
        let i = held.length - 1;
        while (i > 0 && holds(held[i - 1][1])) i--;
        const boundary = i > 0 ? i - 1 : 0;
        return (held[held.length - 1][0] - held[boundary][0]) / 1000;
      },
    };
    const step = fc.oneof(
      fc.record({ push: fc.integer({ min: 0, max: 10 }), dt: fc.integer({ min: -1500, max: 3000 }) }),
      fc.record({ query: fc.constantFrom(0.5, 3, 7, 30, Infinity), threshold: fc.constantFrom(2, 5, 8) }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 12 }), fc.array(step, { maxLength: 120 }), (capacity, steps) => {
        const clock = { now: () => now } as unknown as VirtualClock;
        let now = 1_000_000;
        const s = new RingSeries(clock, capacity);
        const held: Array<[number, number]> = [];
        for (const st of steps) {
          if ('push' in st) {
            now += Math.max(0, st.dt);
            const at = now + Math.min(0, st.dt); // sometimes older than the newest sample
            s.push(st.push, at);
            held.push([Math.max(at, held.at(-1)?.[0] ?? -Infinity), st.push]);
            if (held.length > capacity) held.shift();
            continue;
          }
          const values = scan.window(held, now, st.query);
          const sum = values.reduceRight((a, v) => a + v, 0);
          expect(s.count(st.query)).toBe(values.length);
          expect(s.avg(st.query)).toBe(values.length ? sum / values.length : null);
          expect(s.min(st.query)).toBe(values.length ? Math.min(...values) : null);
          expect(s.max(st.query)).toBe(values.length ? Math.max(...values) : null);
          const sorted = [...values].sort((a, b) => a - b);
          expect(s.percentile(90, st.query)).toBe(values.length ? sorted[Math.max(1, Math.ceil(0.9 * values.length)) - 1] : null);
          expect(s.points(st.query)).toEqual(held.filter(([at]) => at > now - st.query * 1000));
          expect(s.secondsAbove(st.threshold)).toBe(scan.secondsWhile(held, (v) => v > st.threshold));
          expect(s.secondsBelow(st.threshold)).toBe(scan.secondsWhile(held, (v) => v < st.threshold));
        }
      }),
      { numRuns: 400, seed: 7 },
    );
  });

  it('keeps window averages of fractional values within rounding error over many ring wraps', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 50 }),
        fc.array(fc.double({ min: 0, max: 1e4, noNaN: true }), { minLength: 1, maxLength: 3000 }),
        (capacity, values) => {
          let now = 0;
          const clock = { now: () => now } as unknown as VirtualClock;
          const s = new RingSeries(clock, capacity);
          for (const v of values) {
            now += 1000;
            s.push(v, now);
          }
          const held = values.slice(-capacity);
          for (const seconds of [1, 5, capacity, Infinity]) {
            const window = held.slice(-Math.min(seconds, held.length));
            const mean = window.reduce((a, v) => a + v, 0) / window.length;
            expect(Math.abs(s.avg(seconds)! - mean)).toBeLessThanOrEqual(1e-9 * Math.max(1, mean));
          }
        },
      ),
      { numRuns: 300, seed: 11 },
    );
  });
});
