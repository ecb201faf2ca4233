import { release } from 'node:os';
import { describe, expect, it } from 'vitest';

interface Machine {
  minorFaultCost(megabytes?: number): { micros: number; faults: number };
  describeMachine(): string;
}
const modulePath = '../bench/machine.mjs';
const { describeMachine, minorFaultCost } = (await import(modulePath)) as Machine;

describe('machine: what a benchmark ran on', () => {
  it('counts a fault for every page it touches and prices each in CPU microseconds', () => {
    const pages = (16 * 1024 * 1024) / 4096;
    const { micros, faults } = minorFaultCost(16);
    // Every page of fresh memory faults on its first touch; a probe that touched memory already
    // mapped (a reused allocation) would count far fewer and price something else.
    expect(faults).toBeGreaterThanOrEqual(pages * 0.9);
    expect(micros).toBeGreaterThan(0);
    expect(micros).toBeLessThan(1000);
  });

  it('names Node, the Linux release, the CPUs and the price of a fault in one line', () => {
    const line = describeMachine();
    expect(line).toContain(`node ${process.version}, Linux ${release()}, `);
    expect(line).toMatch(/, \d+ x .+, a minor page fault \d+\.\d µs$/);
  });
});
