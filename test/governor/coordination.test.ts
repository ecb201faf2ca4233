import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { InstanceInfo, InstanceState } from '../../governor/cloud/port.js';
import {
  INTENT_MAX_AGE_MS,
  countBooting,
  countFleet,
  decideScaleDown,
  decideScaleUp,
  desiredServing,
  isStuckPending,
  journalDue,
  launchToken,
  membershipGeneration,
  rankFleet,
  type CoordinationConfig,
  type DecisionInput,
  type ScaleUpInput,
} from '../../governor/coordination.js';
import type { Intent } from '../../governor/facts.js';

const NOW = Date.UTC(2026, 0, 1, 12);
const MIN = 60_000;

const scaling: CoordinationConfig['scaling'] = {
  minInstances: 1,
  maxInstances: 8,
  targetBusy: 0.5,
  maxLaunchPerStep: 2,
  scaleDownSpacingMs: 10 * MIN,
  scaleUpSpacingMs: 2 * MIN,
  launcherGraceMs: 30_000,
  bootTimeoutMs: 10 * MIN,
  warmupMs: 5 * MIN,
  dryRun: false,
};
const config: CoordinationConfig = { fleet: 'edge', region: 'local-1', scaling };

function instance(id: string, launchTime: number, state: InstanceState = 'running'): InstanceInfo {
  return { id, fleet: 'edge', region: 'local-1', state, launchTime };
}

function intent(type: Intent['type'], at = NOW - 1000): Intent {
  return { type, rule: `${type}-rule`, file: 'rules/test.json', params: {}, facts: {}, at };
}

/** Three running members a (oldest), b, c; self a; everything allows acting. */
function baseInput(overrides: Partial<DecisionInput> = {}): DecisionInput {
  return {
    self: 'a',
    fleet: rankFleet([instance('c', NOW - 3 * 3600_000), instance('a', NOW - 5 * 3600_000), instance('b', NOW - 4 * 3600_000)]),
    fleetStale: false,
    intent: intent('scale-down'),
    windowsFilled: true,
    paused: false,
    shuttingDown: false,
    config,
    now: NOW,
    lastFleetChangeAt: NOW - 3600_000,
    ...overrides,
  };
}

function upInput(overrides: Partial<ScaleUpInput> = {}): ScaleUpInput {
  return {
    ...baseInput({ intent: intent('scale-up') }),
    busy: 0.9,
    needSince: NOW - 1000,
    fleetViewAt: NOW - 1000,
    ...overrides,
  };
}

describe('rankFleet', () => {
  it('orders by launch time, then id, and drops terminated instances', () => {
    const ranked = rankFleet([
      instance('z', 100),
      instance('b', 50),
      instance('a', 100),
      instance('gone', 1, 'terminated'),
    ]);
    expect(ranked.map((i) => [i.id, i.rank])).toEqual([
      ['b', 0],
      ['a', 1],
      ['z', 2],
    ]);
  });

  it('gives the same order whatever the order of the list', () => {
    const fleetArb = fc.uniqueArray(fc.record({ id: fc.string({ minLength: 1, maxLength: 6 }), t: fc.integer({ min: 0, max: 5 }) }), {
      selector: (r) => r.id,
      maxLength: 12,
    });
    fc.assert(
      fc.property(fleetArb, fc.integer(), (rows, seed) => {
        const list = rows.map((r) => instance(r.id, r.t));
        const shuffled = fc.sample(fc.shuffledSubarray(list, { minLength: list.length }), { numRuns: 1, seed })[0];
        const a = rankFleet(list).map((i) => i.id);
        expect(rankFleet(shuffled).map((i) => i.id)).toEqual(a);
      }),
    );
  });
});

describe('launchToken', () => {
  it('is deterministic, readable and at most 64 ASCII characters', () => {
    const token = launchToken('edge', 'local-1', 'abc-0');
    expect(token).toBe(launchToken('edge', 'local-1', 'abc-0'));
    expect(token).toMatch(/^gov-edge-[0-9a-f]{40}$/);
    expect(launchToken('edge', 'local-1', 'abc-1')).not.toBe(token);
    expect(launchToken('edge', 'local-2', 'abc-0')).not.toBe(token);
    expect(launchToken('edge2', 'local-1', 'abc-0')).not.toBe(token);
  });

  it('fits 64 characters for any names', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 200 }), fc.string({ minLength: 1 }), fc.string({ minLength: 1 }), (f, r, s) => {
        const token = launchToken(f, r, s);
        expect(token.length).toBeLessThanOrEqual(64);
        expect(token).toMatch(/^[\x21-\x7e]+$/);
      }),
    );
  });

  it('rejects empty parts', () => {
    expect(() => launchToken('edge', '', 'x')).toThrow(/region must be a non-empty string/);
  });
});

describe('decideScaleUp examples', () => {
  it('rank 0 launches at once: desired = ceil(N x busy / target), capped per step', () => {
    const d = decideScaleUp(upInput({ busy: 0.9 }));
    // ceil(3 x 0.9 / 0.5) = 6 -> want 3 more, capped at 2
    expect(d).toMatchObject({ action: 'launch', count: 2, desired: 6 });
    if (d.action !== 'launch') throw new Error('expected a launch');
    const generation = membershipGeneration(baseInput().fleet!);
    expect(d.slots).toEqual([`${generation}-0`, `${generation}-1`]);
    expect(d.tokens).toEqual(d.slots.map((s) => launchToken('edge', 'local-1', s)));
    expect(d.reason).toContain('capped at maxLaunchPerStep 2');
  });

  it('launches at least one when the rule wants it though busy is at target', () => {
    expect(decideScaleUp(upInput({ busy: 0.4 }))).toMatchObject({ action: 'launch', count: 1, desired: 3 });
    expect(decideScaleUp(upInput({ busy: null }))).toMatchObject({ action: 'launch', count: 1 });
  });

  it('never goes above the regional cap', () => {
    const d = decideScaleUp(upInput({ config: { ...config, scaling: { ...scaling, maxInstances: 4, maxLaunchPerStep: 5 } } }));
    expect(d).toMatchObject({ action: 'launch', count: 1 });
    const atCap = decideScaleUp(upInput({ config: { ...config, scaling: { ...scaling, maxInstances: 3 } } }));
    expect(atCap).toMatchObject({ action: 'suppress', code: 'at-cap' });
  });

  it('counts booting launches as members and as capacity to be: launches only what they do not cover', () => {
    const booting = (...ids: string[]) => rankFleet([...baseInput().fleet!, ...ids.map((id) => instance(id, NOW - 10_000, 'pending'))]);
    // 3 serving at 0.9: desired 6; 3 booting cover it
    expect(decideScaleUp(upInput({ fleet: booting('d', 'e', 'f') }))).toMatchObject({
      action: 'suppress',
      code: 'launch-pending',
      reason: 'launch already pending: 3 booting cover the need (3 serving at busy 0.90: desired ceil(3 x 0.90 / 0.5) = 6)',
    });
    // one booting: 2 more are wanted; a decision with the same view gives the same slots anywhere
    const fleet = booting('d');
    const d = decideScaleUp(upInput({ fleet }));
    expect(d).toMatchObject({ action: 'launch', count: 2, desired: 6, slots: [`${membershipGeneration(fleet)}-0`, `${membershipGeneration(fleet)}-1`] });
    expect(d.reason).toBe('launch 2 as rank 0: 3 serving at busy 0.90: desired ceil(3 x 0.90 / 0.5) = 6 (1 already booting)');
    // with busy unknown, one at a time: nothing while one boots
    expect(decideScaleUp(upInput({ fleet, busy: null }))).toMatchObject({ code: 'launch-pending' });
  });

  it('sizes the launch by demand when the members shed: busy saturates at 1, demand does not', () => {
    const d = decideScaleUp(upInput({ busy: 1, demand: 3, config: { ...config, scaling: { ...scaling, maxLaunchPerStep: 16, maxInstances: 20 } } }));
    // ceil(3 x 3 / 0.5) = 18: 15 more
    expect(d).toMatchObject({ action: 'launch', count: 15, desired: 18 });
    expect(d.reason).toBe('launch 15 as rank 0: 3 serving at demand 3.00 (busy 1.00): desired ceil(3 x 3.00 / 0.5) = 18');
    // without a demand figure (peers of an older version) busy decides
    expect(decideScaleUp(upInput({ busy: 1, demand: null }))).toMatchObject({ desired: 6 });
  });

  it('a member pending beyond bootTimeoutMs is stuck: it no longer blocks nor covers launches, but counts for the cap', () => {
    const stuck = instance('d', NOW - 10 * MIN - 1, 'pending');
    const fleet = rankFleet([...baseInput().fleet!, stuck]);
    expect(isStuckPending(stuck, NOW, scaling.bootTimeoutMs)).toBe(true);
    expect(isStuckPending({ ...stuck, launchTime: NOW - 10 * MIN }, NOW, scaling.bootTimeoutMs)).toBe(false);
    expect(countBooting(fleet, NOW, scaling.bootTimeoutMs)).toBe(0);
    expect(decideScaleUp(upInput({ fleet }))).toMatchObject({ action: 'launch', count: 2, desired: 6 });
    const capped = decideScaleUp(upInput({ fleet, config: { ...config, scaling: { ...scaling, maxInstances: 5 } } }));
    expect(capped).toMatchObject({ action: 'launch', count: 1, reason: expect.stringContaining('capped by maxInstances 5') });
    // scale-down is not held by it either
    expect(decideScaleDown(baseInput({ fleet }))).toMatchObject({ action: 'leave' });
    expect(decideScaleDown(baseInput({ fleet: rankFleet([...baseInput().fleet!, { ...stuck, launchTime: NOW - MIN }]) }))).toMatchObject({
      code: 'launch-pending',
    });
  });

  it('waits the scale-up spacing after a fleet change', () => {
    expect(decideScaleUp(upInput({ lastFleetChangeAt: NOW - MIN }))).toMatchObject({ action: 'suppress', code: 'spacing' });
    expect(decideScaleUp(upInput({ lastFleetChangeAt: NOW - 2 * MIN }))).toMatchObject({ action: 'launch' });
  });

  it('rank k launches only after k grace periods of need without a fleet change', () => {
    const asC = { self: 'c' }; // rank 2: needs 60 s
    expect(decideScaleUp(upInput({ ...asC, needSince: NOW - 59_000 }))).toMatchObject({ code: 'not-my-turn' });
    expect(decideScaleUp(upInput({ ...asC, needSince: NOW - 60_000 }))).toMatchObject({ action: 'launch' });
    // a fleet change restarts the wait even when the need is older
    expect(
      decideScaleUp(upInput({ ...asC, needSince: NOW - 10 * MIN, lastFleetChangeAt: NOW - 3 * MIN + 1, config: { ...config, scaling: { ...scaling, launcherGraceMs: 90_000 } } })),
    ).toMatchObject({ code: 'not-my-turn' });
  });

  it('waits for a listing after its own launch, then skips the slots it used', () => {
    const first = decideScaleUp(upInput());
    if (first.action !== 'launch') throw new Error('expected a launch');
    const attempt = { generation: first.generation, slots: first.slots, at: NOW };
    expect(decideScaleUp(upInput({ previousAttempt: attempt, fleetViewAt: NOW - 1 }))).toMatchObject({ code: 'awaiting-fleet-view' });
    // the listing after the launch shows the same membership: those launches did not take
    const again = decideScaleUp(upInput({ previousAttempt: attempt, fleetViewAt: NOW + 1, now: NOW + 5000 }));
    expect(again).toMatchObject({ action: 'launch', slots: [`${first.generation}-2`, `${first.generation}-3`] });
    // another membership: the attempt no longer matters
    const fleet = rankFleet([...baseInput().fleet!, instance('d', NOW - 10 * MIN)]);
    expect(decideScaleUp(upInput({ fleet, previousAttempt: attempt, fleetViewAt: NOW - 1 }))).toMatchObject({ action: 'launch' });
  });

  it('holds everything while warming up, paused, held, stale or leaving', () => {
    expect(decideScaleUp(upInput({ windowsFilled: false }))).toMatchObject({ code: 'warming-up' });
    expect(decideScaleUp(upInput({ paused: true }))).toMatchObject({ code: 'paused' });
    expect(decideScaleUp(upInput({ hold: intent('hold') }))).toMatchObject({ code: 'held', reason: 'held by rule "hold-rule" (rules/test.json)' });
    expect(decideScaleUp(upInput({ hold: intent('hold', NOW - INTENT_MAX_AGE_MS - 1) }))).toMatchObject({ action: 'launch' });
    expect(decideScaleUp(upInput({ intent: undefined }))).toMatchObject({ code: 'no-intent', reason: 'no scale-up intent' });
    expect(decideScaleUp(upInput({ intent: intent('scale-up', NOW - INTENT_MAX_AGE_MS - 1) }))).toMatchObject({ code: 'no-intent' });
    expect(decideScaleUp(upInput({ fleet: undefined }))).toMatchObject({ code: 'no-fleet-view' });
    expect(decideScaleUp(upInput({ fleetStale: true }))).toMatchObject({ code: 'fleet-view-stale' });
    expect(decideScaleUp(upInput({ self: 'x' }))).toMatchObject({ code: 'not-in-fleet' });
    expect(decideScaleUp(upInput({ shuttingDown: true }))).toMatchObject({ code: 'self-leaving' });
  });
});

describe('decideScaleDown examples', () => {
  it('rank 0 leaves when everything allows it', () => {
    expect(decideScaleDown(baseInput())).toMatchObject({ action: 'leave' });
  });

  it('only rank 0 leaves', () => {
    expect(decideScaleDown(baseInput({ self: 'b' }))).toMatchObject({ code: 'not-rank-0' });
  });

  it('never leaves as the last instance nor below the minimum', () => {
    const alone = rankFleet([instance('a', 1)]);
    expect(decideScaleDown(baseInput({ fleet: alone }))).toMatchObject({ code: 'last-instance' });
    const withMin3 = { ...config, scaling: { ...scaling, minInstances: 3 } };
    expect(decideScaleDown(baseInput({ config: withMin3 }))).toMatchObject({ code: 'below-minimum' });
    const zeroMin = { ...config, scaling: { ...scaling, minInstances: 0 } };
    expect(decideScaleDown(baseInput({ fleet: rankFleet([instance('a', 1), instance('b', 2, 'pending')]), config: zeroMin }))).toMatchObject({
      action: 'suppress',
    });
  });

  it('one instance leaves at a time', () => {
    const fleet = rankFleet([instance('old', 0, 'leaving'), ...baseInput().fleet!]);
    expect(decideScaleDown(baseInput({ fleet }))).toMatchObject({ code: 'another-leaving', reason: 'another instance is already leaving (old)' });
  });

  it('waits for pending launches and for the scale-down spacing', () => {
    const fleet = rankFleet([...baseInput().fleet!, instance('d', NOW - 1000, 'pending')]);
    expect(decideScaleDown(baseInput({ fleet }))).toMatchObject({ code: 'launch-pending' });
    expect(decideScaleDown(baseInput({ lastFleetChangeAt: NOW - 10 * MIN + 1 }))).toMatchObject({ code: 'spacing' });
    expect(decideScaleDown(baseInput({ lastFleetChangeAt: undefined }))).toMatchObject({ code: 'spacing' });
  });

  it('holds while warming up or paused', () => {
    expect(decideScaleDown(baseInput({ windowsFilled: false }))).toMatchObject({ code: 'warming-up' });
    expect(decideScaleDown(baseInput({ paused: true }))).toMatchObject({ code: 'paused' });
  });
});

describe('coordination properties', () => {
  const states: InstanceState[] = ['pending', 'running', 'running', 'running', 'leaving'];
  const fleetArb = fc
    .uniqueArray(
      fc.record({
        id: fc.stringMatching(/^i-[0-9a-f]{1,4}$/),
        launchTime: fc.integer({ min: NOW - 3600_000, max: NOW }),
        state: fc.constantFrom(...states),
      }),
      { selector: (r) => r.id, minLength: 1, maxLength: 12 },
    )
    .map((rows) => rows.map((r) => instance(r.id, r.launchTime, r.state)));
  const scalingArb = fc
    .record({
      minInstances: fc.integer({ min: 0, max: 6 }),
      extra: fc.integer({ min: 0, max: 10 }),
      targetBusy: fc.double({ min: 0.05, max: 1, noNaN: true }),
      maxLaunchPerStep: fc.integer({ min: 1, max: 6 }),
      scaleDownSpacingMs: fc.integer({ min: 0, max: 20 * MIN }),
      scaleUpSpacingMs: fc.integer({ min: 0, max: 5 * MIN }),
      launcherGraceMs: fc.integer({ min: 0, max: MIN }),
      bootTimeoutMs: fc.integer({ min: 1, max: 60 * MIN }),
    })
    .map(({ extra, ...s }) => ({ ...scaling, ...s, maxInstances: Math.max(1, s.minInstances) + extra }));
  const inputArb = fc
    .record({
      fleet: fleetArb,
      selfIndex: fc.nat(),
      scaling: scalingArb,
      busy: fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: null }),
      demandFactor: fc.option(fc.double({ min: 1, max: 10, noNaN: true }), { nil: undefined }),
      changeAgo: fc.option(fc.integer({ min: 0, max: 30 * MIN }), { nil: undefined }),
      needAgo: fc.integer({ min: 0, max: 10 * MIN }),
      seed: fc.integer(),
    })
    .map(({ fleet, selfIndex, scaling: s, busy, demandFactor, changeAgo, needAgo, seed }) => {
      const up: ScaleUpInput = {
        self: fleet[selfIndex % fleet.length].id,
        fleet: rankFleet(fleet),
        fleetStale: false,
        intent: intent('scale-up'),
        windowsFilled: true,
        paused: false,
        shuttingDown: false,
        config: { ...config, scaling: s },
        now: NOW,
        lastFleetChangeAt: changeAgo === undefined ? undefined : NOW - changeAgo,
        busy,
        demand: busy === null || demandFactor === undefined ? undefined : busy * demandFactor,
        needSince: NOW - needAgo,
        fleetViewAt: NOW - 1,
      };
      return { up, down: { ...up, intent: intent('scale-down') } as DecisionInput, list: fleet, seed };
    });

  it('never launches above the cap, nor more than a step, nor beyond what booting launches leave uncovered', () => {
    let launches = 0;
    let besideBooting = 0;
    fc.assert(
      fc.property(inputArb, ({ up }) => {
        const d = decideScaleUp(up);
        if (d.action !== 'launch') return;
        launches++;
        const counts = countFleet(up.fleet!);
        const booting = countBooting(up.fleet!, up.now, up.config.scaling.bootTimeoutMs);
        if (booting > 0) {
          besideBooting++;
          expect(counts.running + booting + d.count).toBeLessThanOrEqual(d.desired);
        }
        expect(d.count).toBeGreaterThanOrEqual(1);
        expect(d.count).toBeLessThanOrEqual(up.config.scaling.maxLaunchPerStep);
        expect(counts.members + d.count).toBeLessThanOrEqual(up.config.scaling.maxInstances);
        expect(new Set(d.tokens).size).toBe(d.count);
        for (const t of d.tokens) expect(t.length).toBeLessThanOrEqual(64);
      }),
      { numRuns: 500, seed: 42 },
    );
    expect(launches).toBeGreaterThan(20); // the generator reaches launches, not only suppressions
    expect(besideBooting).toBeGreaterThan(0);
  });

  it('only booting launches hold a launch back: members pending beyond the boot timeout never do', () => {
    fc.assert(
      fc.property(inputArb, ({ up }) => {
        const d = decideScaleUp(up);
        if (d.action === 'suppress' && d.code === 'launch-pending') {
          expect(countBooting(up.fleet!, up.now, up.config.scaling.bootTimeoutMs)).toBeGreaterThan(0);
        }
      }),
      { numRuns: 300, seed: 42 },
    );
  });

  it('only rank 0 leaves, never the last one, never below the minimum, one at a time', () => {
    let leaves = 0;
    fc.assert(
      fc.property(inputArb, fc.boolean(), ({ down: input }, asOldest) => {
        const down = asOldest ? { ...input, self: input.fleet![0].id } : input;
        const d = decideScaleDown(down);
        if (d.action !== 'leave') return;
        leaves++;
        const self = down.fleet!.find((i) => i.id === down.self)!;
        const counts = countFleet(down.fleet!);
        expect(self.rank).toBe(0);
        expect(self.state).toBe('running');
        expect(counts.leaving).toBe(0);
        expect(countBooting(down.fleet!, down.now, down.config.scaling.bootTimeoutMs)).toBe(0);
        expect(counts.running - 1).toBeGreaterThanOrEqual(Math.max(1, down.config.scaling.minInstances));
        expect(down.now - down.lastFleetChangeAt!).toBeGreaterThanOrEqual(down.config.scaling.scaleDownSpacingMs);
      }),
      { numRuns: 500, seed: 42 },
    );
    expect(leaves).toBeGreaterThan(5);
  });

  it('identical inputs give identical decisions and tokens, whatever the listing order', () => {
    fc.assert(
      fc.property(inputArb, ({ up, list, seed }) => {
        const shuffled = fc.sample(fc.shuffledSubarray(list, { minLength: list.length }), { numRuns: 1, seed })[0];
        // two governors seeing the same fleet (each listed in its own order) at the same moment
        const mine = decideScaleUp(up);
        const peers = decideScaleUp({ ...up, fleet: rankFleet(shuffled) });
        expect(peers).toEqual(mine);
      }),
      { numRuns: 300 },
    );
  });

  it('rank 0 never waits for its turn; rank k never acts before k grace periods', () => {
    fc.assert(
      fc.property(inputArb, ({ up }) => {
        const oldest = decideScaleUp({ ...up, self: up.fleet![0].id });
        if (oldest.action === 'suppress') expect(oldest.code).not.toBe('not-my-turn');
        const d = decideScaleUp(up);
        const self = up.fleet!.find((i) => i.id === up.self)!;
        if (d.action === 'launch' && self.rank > 0) {
          const since = Math.max(up.needSince!, up.lastFleetChangeAt ?? -Infinity);
          expect(up.now - since).toBeGreaterThanOrEqual(self.rank * up.config.scaling.launcherGraceMs);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('desiredServing and journalDue', () => {
  it('rounds up without float noise', () => {
    expect(desiredServing(3, 0.6, 0.6)).toBe(3);
    expect(desiredServing(3, 0.61, 0.6)).toBe(4);
    expect(desiredServing(0, 1, 0.5)).toBe(0);
  });

  it('journals a code once per repeat interval and every change at once', () => {
    expect(journalDue(undefined, 'spacing', NOW)).toBe(true);
    expect(journalDue({ code: 'spacing', at: NOW - 1000 }, 'spacing', NOW)).toBe(false);
    expect(journalDue({ code: 'spacing', at: NOW - 60_000 }, 'spacing', NOW)).toBe(true);
    expect(journalDue({ code: 'spacing', at: NOW - 1000 }, 'at-cap', NOW)).toBe(true);
  });
});
