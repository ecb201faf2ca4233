import { describe, expect, it } from 'vitest';
import { runCentral } from '../../governor/simulator/central-runner.js';
import { asgPolicy, hpaPolicy, kpaPolicy, oracleCounts, oraclePolicy, type Observation, type ReferencePolicy } from '../../governor/simulator/policies.js';
import { scoreRun, DEFAULT_OBJECTIVE } from '../../governor/simulator/scoring.js';
import { generateTrace } from '../../governor/simulator/traces.js';
import { testSpec } from './fixtures.js';

const BOUNDS = { minInstances: 1, maxInstances: 20, targetBusy: 0.5, capacityRps: 200 };

/** Feeds a policy `seconds` observations of `n` ready, warmed-up instances at `busy`; returns its decisions. */
function feed(policy: ReferencePolicy, from: number, seconds: number, o: Partial<Observation> & { n: number; busy: number }) {
  const decisions: Array<{ t: number; desired: number }> = [];
  for (let t = from; t < from + seconds; t++) {
    const instances = Array.from({ length: o.n }, () => ({ age: 10_000, ready: true, busy: o.busy }));
    const d = policy.observe({ t, current: o.current ?? o.n, instances: o.instances ?? instances, rate: o.rate ?? o.n * o.busy * 200 });
    if (d) decisions.push({ t, desired: d.desired });
  }
  return decisions;
}

describe('AWS target tracking', () => {
  it('scales out after 3 minutes above target, proportionally', () => {
    const decisions = feed(asgPolicy(BOUNDS), 0, 300, { n: 4, busy: 0.8 });
    expect(decisions[0]).toEqual({ t: 179, desired: Math.ceil((4 * 0.8) / 0.5) });
  });

  it('scales in only after 15 minutes below 90% of target, and not while an instance warms up', () => {
    expect(feed(asgPolicy(BOUNDS), 0, 14 * 60, { n: 4, busy: 0.2 })).toEqual([]);
    expect(feed(asgPolicy(BOUNDS), 0, 15 * 60, { n: 4, busy: 0.2 })).toEqual([{ t: 899, desired: 2 }]);
    const warming = [...Array.from({ length: 4 }, () => ({ age: 10_000, ready: true, busy: 0.2 })), { age: 10, ready: false, busy: 0 }];
    expect(feed(asgPolicy(BOUNDS), 0, 15 * 60, { n: 4, busy: 0.2, current: 5, instances: warming })).toEqual([]);
  });
});

describe('Kubernetes HPA', () => {
  it('does nothing within the 10% tolerance', () => {
    expect(feed(hpaPolicy(BOUNDS), 0, 120, { n: 4, busy: 0.54 })).toEqual([]);
  });

  it('scales up by at most max(100%, 4 pods) per 15 s', () => {
    const [first] = feed(hpaPolicy(BOUNDS), 0, 15, { n: 2, busy: 1 });
    expect(first).toEqual({ t: 14, desired: 4 }); // wants ceil(2 x 2) = 4; limit max(4, 6)
    const [big] = feed(hpaPolicy({ ...BOUNDS, targetBusy: 0.1 }), 0, 15, { n: 2, busy: 1 });
    expect(big.desired).toBe(6); // wants 20, limited to 2 + 4
  });

  it('keeps the highest recommendation of the last 300 s before scaling down', () => {
    const hpa = hpaPolicy(BOUNDS);
    feed(hpa, 0, 30, { n: 8, busy: 0.5 });
    const down = feed(hpa, 30, 400, { n: 8, busy: 0.1 });
    expect(down[0].t).toBeGreaterThanOrEqual(300);
    expect(down[0].desired).toBe(2);
  });
});

describe('Knative KPA', () => {
  it('panics on a burst (scales on the 6 s window) and does not scale down while panicking', () => {
    const kpa = kpaPolicy(BOUNDS);
    feed(kpa, 0, 60, { n: 2, busy: 0.5, rate: 200 });
    const burst = feed(kpa, 60, 8, { n: 2, busy: 1, rate: 2000 });
    expect(burst.at(-1)!.desired).toBe(20);
    const after = feed(kpa, 68, 40, { n: 20, busy: 0.1, rate: 200, current: 20 });
    expect(after).toEqual([]); // still panicking: no scale-down within the stable window
    const later = feed(kpa, 108, 120, { n: 20, busy: 0.1, rate: 200, current: 20 });
    expect(later[0].desired).toBe(10); // out of panic: down, by at most half per tick
  });
});

describe('the oracle', () => {
  it('holds ceil(mean rate of the minute / (target x capacity)) within the bounds', () => {
    const rates = new Float64Array(240);
    rates.fill(150, 0, 60);
    rates.fill(450, 60, 120);
    rates.fill(2000, 150, 180);
    rates.fill(9000, 180, 240);
    expect([...oracleCounts(rates, BOUNDS)]).toEqual([2, 5, 10, 20]);
  });

  it('runs with instant boots: never over objective at the cost floor', () => {
    const trace = generateTrace('flash-crowd', { seed: 2, durationS: 1800, baseRate: 100 });
    const spec = testSpec(trace, { bounds: { ...BOUNDS, maxInstances: 20 } });
    const run = runCentral(oraclePolicy(trace.rates, spec.bounds), spec, { instant: true });
    const scores = scoreRun(run, trace, DEFAULT_OBJECTIVE);
    expect(scores.minutesOverObjective).toBe(0);
    const floor = [...oracleCounts(trace.rates, spec.bounds)].reduce((a, b) => a + b, 0) / 60;
    expect(scores.instanceHours).toBeCloseTo(floor, 1);
  });
});

describe('central runs', () => {
  it('are reproducible, boot launches after the boot time, and lose the launches that never boot', () => {
    const trace = generateTrace('flash-crowd', { seed: 2, durationS: 1800, baseRate: 100 });
    const spec = testSpec(trace, { bounds: BOUNDS, bootS: { min: 90, max: 90 }, faults: { neverBootRate: 0.3 } });
    const a = runCentral(kpaPolicy(BOUNDS), spec);
    const b = runCentral(kpaPolicy(BOUNDS), spec);
    expect(a.events).toEqual(b.events);
    const launch = a.events.find((e) => e.kind === 'launch')!;
    const firstReady = a.seconds.findIndex((s, t) => t >= launch.t && s.ready > 1);
    expect(firstReady - launch.t).toBe(90);
    expect(a.events.filter((e) => e.kind === 'lost').length).toBeGreaterThan(0);
    expect(a.seconds.every((s) => s.members >= 1 && s.members <= BOUNDS.maxInstances)).toBe(true);
  });
});
