import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Blackboard } from '../../governor/blackboard.js';
import { VirtualClock } from '../../governor/virtual-clock.js';
import { DEMAND_MAX_FACTOR, demandEstimate, demandOver } from '../../governor/demand.js';
import { LOCAL_SERIES } from '../../governor/facts.js';

describe('demandEstimate', () => {
  it('is busy while everything received is completed', () => {
    expect(demandEstimate(0.4, 100, 0)).toBe(0.4);
    expect(demandEstimate(0.4, 0, 0)).toBe(0.4);
  });

  it('scales busy by received / completed when requests are shed or pile up in the queue', () => {
    // 600 received, 400 shed: 200 completed, 3x the capacity in use
    expect(demandEstimate(1, 600, 400)).toBe(3);
    // nothing shed yet, but the queue grows by 300/s: 300 completed of 600
    expect(demandEstimate(1, 600, 0, 300)).toBe(2);
    // a backlog draining at 100/s: busy with earlier requests, the offered load is lower
    expect(demandEstimate(1, 100, 0, -100)).toBe(0.5);
  });

  it('is bounded, and ignores rates that are not finite or negative', () => {
    expect(demandEstimate(1, 600, 600)).toBe(DEMAND_MAX_FACTOR);
    expect(demandEstimate(1, 600, 5000)).toBe(DEMAND_MAX_FACTOR);
    expect(demandEstimate(1, 10, 0, -1e6)).toBe(1 / DEMAND_MAX_FACTOR);
    expect(demandEstimate(0.5, Number.NaN, 10)).toBe(0.5);
    expect(demandEstimate(0.5, 100, -10)).toBe(0.5);
    expect(demandEstimate(0.5, 100, 0, Number.POSITIVE_INFINITY)).toBe(0.5);
  });
});

describe('demandOver', () => {
  let clock: VirtualClock;
  let bb: Blackboard;
  beforeEach(() => {
    clock = new VirtualClock();
    bb = new Blackboard(clock);
  });
  afterEach(() => clock.uninstall());

  /** One signals sample a second for `seconds` seconds. */
  async function sample(seconds: number, s: { busy: number; rps: number; shed: number; depth: (i: number) => number }): Promise<void> {
    for (let i = 0; i < seconds; i++) {
      await clock.advance(1000);
      bb.series(LOCAL_SERIES.busy).push(s.busy);
      bb.series(LOCAL_SERIES.rps).push(s.rps);
      bb.series(LOCAL_SERIES.shedPerSecond).push(s.shed);
      bb.series(LOCAL_SERIES.queueDepth).push(s.depth(i));
    }
  }

  it('is 0 without samples and busy while nothing is shed or queued', async () => {
    expect(demandOver(bb, 10)).toBe(0);
    await sample(20, { busy: 0.3, rps: 60, shed: 0, depth: () => 0 });
    expect(demandOver(bb, 10)).toBeCloseTo(0.3, 12);
  });

  it('reads the received and shed rates and the queue growth over the window', async () => {
    await sample(20, { busy: 0.5, rps: 100, shed: 0, depth: () => 0 });
    // overload: 600/s received, 200/s shed, and the queue fills
    await sample(10, { busy: 1, rps: 600, shed: 200, depth: (i) => 200 * (i + 1) });
    // the sample before the window had depth 0, the newest 2000: 200/s more queued; 200/s completed
    expect(demandOver(bb, 10)).toBeCloseTo(3, 9);
    // the queue full and steady: 400/s completed
    await sample(11, { busy: 1, rps: 600, shed: 200, depth: () => 2000 });
    expect(demandOver(bb, 10)).toBeCloseTo(1.5, 12);
  });
});
