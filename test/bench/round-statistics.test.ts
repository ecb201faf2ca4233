import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

interface Interval {
  low: number;
  high: number;
  coverage: number;
}
interface RoundStatistics {
  median(values: number[]): number;
  medianBy<T>(items: T[], value: (item: T) => number): T;
  medianInterval(values: number[], confidence?: number): Interval;
}
const modulePath = '../bench/round-statistics.mjs';
const { median, medianBy, medianInterval } = (await import(modulePath)) as RoundStatistics;

/** P(Binomial(n, 1/2) <= j), summed term by term from binomial coefficients. */
function binomialTail(n: number, j: number): number {
  let coefficient = 1;
  let sum = 0;
  for (let i = 0; i <= j; i++) {
    sum += coefficient;
    coefficient = (coefficient * (n - i)) / (i + 1);
  }
  return sum / 2 ** n;
}

describe('median', () => {
  it('takes the middle value of an odd count and the mean of the two middle ones of an even count', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });
});

describe('medianBy', () => {
  it('picks one of the items, the lower middle of an even count', () => {
    const rounds = [{ rps: 30 }, { rps: 10 }, { rps: 20 }, { rps: 40 }];
    expect(medianBy(rounds, (round) => round.rps)).toBe(rounds[2]);
    expect(medianBy(rounds.slice(0, 3), (round) => round.rps)).toBe(rounds[2]);
  });
});

describe('medianInterval', () => {
  it('is the whole range for 7 rounds (98.4%): the next narrower pair covers only 87.5%', () => {
    const interval = medianInterval([0.81, 0.81, 0.72, 0.84, 1.04, 0.75, 0.97]);
    expect(interval).toEqual({ low: 0.72, high: 1.04, coverage: 1 - 2 / 128 });
  });

  it('drops 12 values from each end of 41 rounds at 95% (the order statistics of the binomial table)', () => {
    const values = Array.from({ length: 41 }, (_, i) => i + 1);
    const interval = medianInterval(values.reverse());
    // P(B(41, 1/2) <= 13) = 0.0138 and <= 14 is 0.0298: the 14th smallest is the last low bound that keeps 95%.
    expect(interval.low).toBe(14);
    expect(interval.high).toBe(28);
    expect(interval.coverage).toBeCloseTo(1 - 2 * binomialTail(41, 13), 12);
  });

  it('says when too few rounds reach the confidence asked for', () => {
    expect(medianInterval([2, 1, 3, 5, 4])).toEqual({ low: 1, high: 5, coverage: 1 - 2 / 32 });
    expect(medianInterval([7])).toEqual({ low: 7, high: 7, coverage: 0 });
  });

  it('is the narrowest pair of order statistics that holds the median with at least the confidence asked for', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: 0, max: 10, noNaN: true }), { minLength: 1, maxLength: 80 }), fc.double({ min: 0.5, max: 0.99, noNaN: true }), (values, confidence) => {
        const sorted = [...values].sort((a, b) => a - b);
        const n = sorted.length;
        const coverageOf = (k: number): number => 1 - 2 * binomialTail(n, k - 1);
        let k = 1;
        while (k + 1 <= Math.ceil(n / 2) && coverageOf(k + 1) >= confidence) k++;
        const interval = medianInterval(values, confidence);
        expect(interval.low).toBe(sorted[k - 1]);
        expect(interval.high).toBe(sorted[n - k]);
        expect(interval.coverage).toBeCloseTo(Math.max(0, coverageOf(k)), 9);
        expect(interval.low).toBeLessThanOrEqual(median(values));
        expect(interval.high).toBeGreaterThanOrEqual(median(values));
      }),
    );
  });

  it('refuses no values and a confidence outside (0, 1)', () => {
    expect(() => medianInterval([])).toThrow(/at least one value/);
    expect(() => medianInterval([1, 2], 1)).toThrow(/between 0 and 1/);
  });
});
