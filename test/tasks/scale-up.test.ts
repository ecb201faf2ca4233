import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { VirtualClock } from '../../governor/virtual-clock.js';
import type { SignalSummary } from '../../governor/cloud/port.js';
import type { ConfigInput } from '../../governor/config.js';
import { launchToken, membershipGeneration, type LaunchAttempt, type RankedInstance } from '../../governor/coordination.js';
import { PLAIN_FACTS, type EventType } from '../../governor/facts.js';
import fleet, { FLEET_KEYS } from '../../tasks/fleet.js';
import scaleUp, { SCALE_UP_KEYS } from '../../tasks/scale-up.js';
import { FLEET, REGION, TaskHarness, TestRegion, testConfig } from './context.js';

const MIN = 60_000;

function busySummary(at: number, busy1m: number): SignalSummary {
  return { at, busyNow: busy1m, busy1m, busy5m: busy1m, busy15m: busy1m, queueWaitP95Ms: 0, queueWaitNowMs: 0, queueDepth: 0, rps: 1, inFlight: 0, ready: true, windowsFilled: true };
}

describe('scale-up task', () => {
  let clock: VirtualClock;
  let region: TestRegion;
  let ids: string[];

  beforeEach(async () => {
    clock = new VirtualClock();
    region = await TestRegion.create(clock);
    ids = await region.addRunning(2);
    await clock.advance(3 * MIN); // past the scale-up spacing after the last launch
    for (const id of ids) await region.cloudFor(id).publishSummary(busySummary(clock.now(), 0.9));
  });
  afterEach(async () => {
    clock.uninstall();
    await region.cleanup();
  });

  /** A governor of instance `id` with filled windows and a listed fleet. */
  async function governor(id: string, overrides: ConfigInput = {}): Promise<TaskHarness> {
    const h = new TaskHarness({ clock, config: testConfig(overrides), cloud: region.cloudFor(id) });
    h.blackboard.set(PLAIN_FACTS.windowsFilled, true);
    await h.run(fleet);
    return h;
  }
  function want(h: TaskHarness, type: EventType = 'scale-up'): void {
    h.blackboard.set(`intents.${type}`, { type, rule: 'busy-high', file: 'rules/default.json', params: {}, facts: {}, at: clock.now() });
  }
  const members = () => region.registry.list(FLEET, REGION);
  const suppressions = (h: TaskHarness) => h.journal.query({ kind: 'suppressed', name: 'scale-up' }).map((e) => e.data?.code);

  it('runs every 5 s within 4 s', () => {
    expect(scaleUp).toMatchObject({ name: 'scale-up', schedule: '*/5 * * * * *', timeoutMs: 4000 });
  });

  it('rank 0 launches ceil(N x busy / target) - N, capped per step, with deterministic tokens', async () => {
    const h = await governor(ids[0], { scaling: { targetBusy: 0.4, maxLaunchPerStep: 2 } });
    want(h);
    await h.run(scaleUp);

    const generation = membershipGeneration(h.blackboard.get<RankedInstance[]>(FLEET_KEYS.view)!);
    const slots = [`${generation}-0`, `${generation}-1`];
    const launched = (await members()).filter((m) => m.state === 'pending');
    expect(launched.map((m) => m.launchSlot).sort()).toEqual(slots);
    expect(launched.every((m) => m.launchedBy === ids[0])).toBe(true);

    const [decision] = h.journal.query({ name: 'scale-up', kind: 'action' });
    expect(decision.reason).toBe(
      'launch 2 as rank 0: 2 serving at busy 0.90: desired ceil(2 x 0.90 / 0.4) = 5 (capped at maxLaunchPerStep 2)',
    );
    expect(decision.data).toMatchObject({ count: 2, slots, tokens: slots.map((s) => launchToken(FLEET, REGION, s)) });
    expect(h.journal.query({ name: 'launch', kind: 'action' })).toHaveLength(2);
  });

  it('a peer deciding the same launch at the same moment launches nothing: slot taken by a peer', async () => {
    const oldest = await governor(ids[0], { scaling: { maxLaunchPerStep: 1 } });
    const peer = await governor(ids[1], { scaling: { maxLaunchPerStep: 1, launcherGraceMs: 0 } });
    want(oldest);
    want(peer);
    await oldest.run(scaleUp);
    await peer.run(scaleUp); // its view still shows the old membership
    expect(await members()).toHaveLength(3);
    const taken = peer.journal.query({ name: 'launch' });
    expect(taken).toHaveLength(1);
    expect(taken[0]).toMatchObject({ kind: 'suppressed' });
    expect(taken[0].reason).toMatch(/^slot [0-9a-f]{12}-0 taken by a peer \(instance .+\): not launched again$/);
  });

  it('rank k waits k grace periods of need before standing in for rank 0', async () => {
    const peer = await governor(ids[1], { scaling: { launcherGraceMs: 30_000, maxLaunchPerStep: 1 } });
    want(peer);
    await peer.run(scaleUp);
    expect(suppressions(peer)).toEqual(['not-my-turn']);
    for (let t = 0; t < 5; t++) {
      await clock.advance(5000);
      want(peer);
      await peer.run(fleet);
      await peer.run(scaleUp);
    }
    expect(await members()).toHaveLength(2); // 25 s of need
    await clock.advance(5000);
    want(peer);
    await peer.run(fleet);
    await peer.run(scaleUp);
    expect(await members()).toHaveLength(3); // 30 s: rank 1 stands in
    expect(peer.journal.query({ name: 'launch', kind: 'action' })).toHaveLength(1);
  });

  it('waits for a listing after launching, then launches only what the booting launches leave uncovered', async () => {
    const h = await governor(ids[0], { scaling: { maxLaunchPerStep: 1 } });
    /** `seconds` later, with fresh summaries (busy 0.9: desired ceil(2 x 0.9 / 0.5) = 4), a listing and a decision. */
    async function tick(seconds: number): Promise<void> {
      await clock.advance(seconds * 1000);
      for (const id of ids) await region.cloudFor(id).publishSummary(busySummary(clock.now(), 0.9));
      await h.run(fleet);
      want(h);
      await h.run(scaleUp);
    }
    want(h);
    await h.run(scaleUp);
    await clock.advance(5000);
    want(h);
    await h.run(scaleUp); // no listing since the launch
    await tick(0); // the listing shows the pending launch: a fleet change
    await tick(30); // past the spacing: 2 serving + 1 booting < 4
    await tick(30); // 2 serving + 2 booting cover 4
    expect(suppressions(h)).toEqual(['awaiting-fleet-view', 'spacing', 'launch-pending']);
    const [, second] = h.journal.query({ name: 'scale-up', kind: 'action' });
    expect(second.reason).toBe('launch 1 as rank 0: 2 serving at busy 0.90: desired ceil(2 x 0.90 / 0.5) = 4 (1 already booting)');
    expect(h.journal.query({ name: 'scale-up', kind: 'suppressed' })[2].reason).toBe(
      'launch already pending: 2 booting cover the need (2 serving at busy 0.90: desired ceil(2 x 0.90 / 0.5) = 4)',
    );
    expect(await members()).toHaveLength(4);
  });

  it('sizes the launch by the fleet demand when members shed, and journals the demand', async () => {
    for (const id of ids) await region.cloudFor(id).publishSummary({ ...busySummary(clock.now(), 1), demandNow: 2.5 });
    const h = await governor(ids[0], { scaling: { maxInstances: 16 } });
    want(h);
    await h.run(scaleUp);
    const [decision] = h.journal.query({ name: 'scale-up', kind: 'action' });
    // ceil(2 x 2.5 / 0.5) = 10: 8 more, one step
    expect(decision.reason).toBe('launch 8 as rank 0: 2 serving at demand 2.50 (busy 1.00): desired ceil(2 x 2.50 / 0.5) = 10');
    expect(decision.facts).toMatchObject({ busy: 1, demand: 2.5 });
    expect(await members()).toHaveLength(10);
  });

  it('launches stuck pending beyond bootTimeoutMs no longer hold the next ones back; each is journaled once', async () => {
    const h = await governor(ids[0], { scaling: { bootTimeoutMs: 5 * MIN } });
    want(h);
    await h.run(scaleUp); // desired ceil(2 x 0.9 / 0.5) = 4: 2 launched
    for (const minutes of [1, 1, 4, 1]) {
      await clock.advance(minutes * MIN);
      for (const id of ids) await region.cloudFor(id).publishSummary(busySummary(clock.now(), 0.9));
      await h.run(fleet);
      want(h);
      await h.run(scaleUp);
    }
    // 1 and 2 min: the two booting cover the need; 6 min: they are stuck, 2 more go; 7 min: those cover it
    expect(suppressions(h)).toEqual(['launch-pending', 'launch-pending', 'launch-pending']);
    const launches = h.journal.query({ name: 'scale-up', kind: 'action' });
    expect(launches.map((e) => e.data?.count)).toEqual([2, 2]);
    expect(await members()).toHaveLength(6);
    const stuck = h.journal.query({ name: 'fleet', kind: 'error' }).map((e) => e.reason);
    expect(stuck).toHaveLength(2);
    expect(stuck[0]).toMatch(/^instance \S+ is stuck: pending for 360 s \(scaling.bootTimeoutMs 300000 ms\); no longer counted as a booting launch$/);
  });

  it('a launch whose call failed is retried with the same slot, so a peer filling that need meanwhile makes one instance', async () => {
    const h = await governor(ids[0], { scaling: { maxLaunchPerStep: 1 } });
    const peer = await governor(ids[1], { scaling: { maxLaunchPerStep: 1, launcherGraceMs: 0 } });
    want(h);
    region.failures.failNext('launch');
    await h.run(scaleUp);
    expect(h.journal.query({ kind: 'error', name: 'launch' })).toHaveLength(1);
    const attempt = h.blackboard.get<LaunchAttempt>(SCALE_UP_KEYS.attempt)!;
    expect(attempt.slots).toEqual([]);

    // the peer fills the need in the same slot; the retry finds its token taken
    want(peer);
    await peer.run(scaleUp);
    await clock.advance(5000);
    await h.run(fleet);
    want(h);
    await h.run(scaleUp);
    const launched = (await members()).filter((m) => m.state === 'pending');
    expect(launched.map((m) => m.launchSlot)).toEqual([`${attempt.generation}-0`]);
  });

  it('after a launched instance died while booting, the next slot goes', async () => {
    const h = await governor(ids[0], { scaling: { maxLaunchPerStep: 1 } });
    want(h);
    await h.run(scaleUp);
    const attempt = h.blackboard.get<LaunchAttempt>(SCALE_UP_KEYS.attempt)!;
    const [booting] = (await members()).filter((m) => m.state === 'pending');
    await region.registry.markTerminated(booting.id, 'died while booting');

    await clock.advance(5000);
    await h.run(fleet);
    want(h);
    await h.run(scaleUp);
    const launched = (await members()).filter((m) => m.state === 'pending');
    expect(launched.map((m) => m.launchSlot)).toEqual([`${attempt.generation}-1`]);
  });

  it('never goes above the regional cap', async () => {
    const h = await governor(ids[0], { scaling: { maxInstances: 3, maxLaunchPerStep: 5 } });
    want(h);
    await h.run(scaleUp);
    expect(await members()).toHaveLength(3);
    expect(h.journal.query({ name: 'scale-up', kind: 'action' })[0].reason).toContain('capped by maxInstances 3');
  });

  it('restart safety: holds the intent until the windows are filled, journaling the hold once a minute', async () => {
    const h = await governor(ids[0]);
    h.blackboard.set(PLAIN_FACTS.windowsFilled, false);
    for (let t = 0; t < 4; t++) {
      want(h);
      await h.run(scaleUp);
      await clock.advance(5000);
    }
    expect(await members()).toHaveLength(2);
    expect(suppressions(h)).toEqual(['warming-up']);
    await clock.advance(MIN);
    want(h);
    await h.run(scaleUp);
    expect(suppressions(h)).toEqual(['warming-up', 'warming-up']);
  });

  it('holds while paused, and journals nothing without an intent', async () => {
    const h = await governor(ids[0]);
    await h.run(scaleUp);
    expect(h.entries('scale-up')).toHaveLength(0);
    expect(h.blackboard.get(`scale-up.decision`)).toMatchObject({ action: 'suppress', code: 'no-intent' });
    h.blackboard.set(PLAIN_FACTS.paused, true);
    want(h);
    await h.run(scaleUp);
    expect(suppressions(h)).toEqual(['paused']);
    expect(await members()).toHaveLength(2);
  });

  it('dry run journals the launch it would make and calls no cloud launch', async () => {
    const h = await governor(ids[0], { scaling: { dryRun: true } });
    want(h);
    await h.run(scaleUp);
    await h.run(scaleUp);
    expect(await members()).toHaveLength(2);
    const entries = h.entries('scale-up');
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ kind: 'action', data: { dryRun: true } });
    expect(entries[0].reason).toMatch(/^dry run, the cloud is not called: launch 2 as rank 0/);
  });
});
