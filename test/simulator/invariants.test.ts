import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { InstanceInfo } from '../../governor/cloud/port.js';
import { runGoverned } from '../../governor/simulator/governed-runner.js';
import { duplicateSlots, fleetViolations } from '../../governor/simulator/invariants.js';
import type { Trace } from '../../governor/simulator/traces.js';
import { TEST_GOVERNOR_CONFIG, TEST_RULES_DIR, testSpec } from './fixtures.js';

/** A random trace: 2-4 segments of 4-8 minutes, each ramping to a random rate within 0..1400 req/s. */
const traceArb = fc.array(fc.record({ rate: fc.integer({ min: 0, max: 1400 }), seconds: fc.integer({ min: 240, max: 480 }) }), { minLength: 2, maxLength: 4 }).map(
  (segments): Trace => {
    const rates = new Float64Array(segments.reduce((a, s) => a + s.seconds, 0));
    let t = 0;
    let previous = 50;
    for (const { rate, seconds } of segments) {
      for (let s = 0; s < seconds; s++) rates[t + s] = previous + (rate - previous) * Math.min(1, s / 60);
      t += seconds;
      previous = rate;
    }
    return { name: 'random', description: 'random segments', rates };
  },
);

const scenarioArb = fc
  .record({
    trace: traceArb,
    min: fc.integer({ min: 1, max: 3 }),
    extra: fc.integer({ min: 0, max: 6 }),
    initialShare: fc.double({ min: 0, max: 1, noNaN: true }),
    bootMin: fc.integer({ min: 5, max: 90 }),
    bootSpread: fc.integer({ min: 0, max: 60 }),
    apiFailureRate: fc.double({ min: 0, max: 0.3, noNaN: true }),
    neverBootRate: fc.double({ min: 0, max: 0.3, noNaN: true }),
    maxSkewMs: fc.integer({ min: 0, max: 5000 }),
    crashes: fc.integer({ min: 0, max: 3 }),
    seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
  })
  .map((s) => {
    const max = s.min + s.extra;
    return testSpec(s.trace, {
      bounds: { minInstances: s.min, maxInstances: max, targetBusy: 0.5, capacityRps: 200 },
      initialInstances: s.min + Math.floor(s.initialShare * s.extra),
      bootS: { min: s.bootMin, max: s.bootMin + s.bootSpread },
      seed: s.seed,
      faults: { apiFailureRate: s.apiFailureRate, neverBootRate: s.neverBootRate, maxSkewMs: s.maxSkewMs, crashes: s.crashes, restartS: 5 },
    });
  });

describe('invariants of the real governor over random scenarios (fast-check)', () => {
  it(
    'no duplicate launch; members within [min, cap]; at most one leaving; never the last instance; every launch and leave journaled',
    async () => {
      await fc.assert(
        fc.asyncProperty(scenarioArb, async (spec) => {
          const run = await runGoverned(spec, { rulesDir: TEST_RULES_DIR, config: TEST_GOVERNOR_CONFIG });
          expect(run.violations).toEqual([]);
          expect(run.duplicateLaunches).toBe(0);
          const { minInstances, maxInstances } = spec.bounds;
          for (const s of run.seconds) {
            expect(s.members).toBeLessThanOrEqual(maxInstances);
            expect(s.members).toBeGreaterThanOrEqual(minInstances);
          }
          for (const e of run.events.filter((ev) => ev.kind !== 'lost')) expect(e.reason).not.toBe('unknown');
        }),
        { numRuns: 20, seed: 4242, endOnFailure: true },
      );
    },
    120_000,
  );
});

describe('the invariant checks themselves', () => {
  const member = (id: string, state: InstanceInfo['state'], launchSlot?: string): InstanceInfo => ({ id, fleet: 'f', region: 'r', state, launchTime: 0, launchSlot });
  const bounds = { minInstances: 2, maxInstances: 3 };

  it('accept a healthy fleet and name every broken invariant', () => {
    expect(fleetViolations([member('a', 'running'), member('b', 'leaving'), member('c', 'pending')], bounds)).toEqual([]);
    expect(fleetViolations(['a', 'b', 'c', 'd'].map((id) => member(id, 'running')), bounds)).toEqual(['4 members, above the cap 3']);
    expect(fleetViolations([member('a', 'running'), member('z', 'terminated')], bounds)).toEqual(['1 members, below the minimum 2']);
    expect(fleetViolations([member('a', 'leaving'), member('b', 'leaving')], bounds)).toEqual(['2 instances leaving at once']);
    expect(fleetViolations([member('a', 'pending'), member('b', 'pending')], bounds)).toEqual(['no instance left serving']);
  });

  it('find slots launched twice, terminated instances included', () => {
    expect(duplicateSlots([member('a', 'running', 's1'), member('b', 'terminated', 's1'), member('c', 'running', 's2'), member('d', 'running')])).toEqual(['s1']);
  });
});
