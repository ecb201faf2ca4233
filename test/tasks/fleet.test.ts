import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { VirtualClock } from '../../governor/virtual-clock.js';
import type { SignalSummary } from '../../governor/cloud/port.js';
import type { RankedInstance } from '../../governor/coordination.js';
import { FLEET_SERIES, PLAIN_FACTS } from '../../governor/facts.js';
import fleet, { FLEET_KEYS, NO_SMALLER_FLEET_BUSY, SUMMARY_MAX_AGE_MS } from '../../tasks/fleet.js';
import { SIGNAL_KEYS } from '../../tasks/signals.js';
import { FLEET, REGION, TaskHarness, TestRegion, testConfig } from './context.js';

function summary(at: number, busy1m: number, queueWaitP95Ms = 0): SignalSummary {
  return { at, busyNow: busy1m, busy1m, busy5m: busy1m, busy15m: busy1m, queueWaitP95Ms, queueWaitNowMs: queueWaitP95Ms, queueDepth: 0, rps: 1, inFlight: 0, ready: true, windowsFilled: true };
}

describe('fleet task', () => {
  let clock: VirtualClock;
  let region: TestRegion;
  let ids: string[];
  let h: TaskHarness;

  beforeEach(async () => {
    clock = new VirtualClock();
    region = await TestRegion.create(clock);
    ids = await region.addRunning(3);
    // the middle instance is this governor
    h = new TaskHarness({ clock, config: testConfig(), cloud: region.cloudFor(ids[1]) });
  });
  afterEach(async () => {
    clock.uninstall();
    await region.cleanup();
  });

  const view = () => h.blackboard.get<RankedInstance[]>(FLEET_KEYS.view)!;

  it('runs every 5 s within 4 s', () => {
    expect(fleet).toMatchObject({ name: 'fleet', schedule: '*/5 * * * * *', timeoutMs: 4000 });
  });

  it('writes the ranked view, who I am and the plain fleet facts', async () => {
    await h.run(fleet);
    expect(view().map((i) => [i.id, i.rank, i.state])).toEqual([
      [ids[0], 0, 'running'],
      [ids[1], 1, 'running'],
      [ids[2], 2, 'running'],
    ]);
    expect(h.blackboard.get(FLEET_KEYS.self)).toBe(ids[1]);
    expect(h.blackboard.get(FLEET_KEYS.viewAt)).toBe(clock.now());
    expect(h.blackboard.get(FLEET_KEYS.stale)).toBe(false);
    expect(h.blackboard.get(PLAIN_FACTS.fleetSize)).toBe(3);
    expect(h.blackboard.get(PLAIN_FACTS.fleetRunning)).toBe(3);
    expect(h.blackboard.get(PLAIN_FACTS.fleetPending)).toBe(0);
    expect(h.blackboard.get(PLAIN_FACTS.fleetLeaving)).toBe(0);
    expect(h.blackboard.get(PLAIN_FACTS.myRank)).toBe(1);
    // first view: the newest launch is the last change known
    expect(h.blackboard.get(FLEET_KEYS.lastChangeAt)).toBe(view()[2].launchTime);
    expect(h.blackboard.series(FLEET_SERIES.size).last()).toBe(3);
  });

  it('publishes my summary and computes fleet load from fresh summaries only', async () => {
    const now = clock.now();
    await region.cloudFor(ids[0]).publishSummary(summary(now, 0.2, 10));
    await region.cloudFor(ids[2]).publishSummary(summary(now - SUMMARY_MAX_AGE_MS - 1000, 0.99, 500)); // stale: ignored
    h.blackboard.set(SIGNAL_KEYS.summary, summary(now, 0.6, 30));
    await h.run(fleet);

    const mine = (await region.registry.get(ids[1]))!.summary!;
    expect(mine.busy1m).toBe(0.6);
    expect(view()[1].summary?.busy1m).toBe(0.6);
    const last = (name: string) => h.blackboard.series(name).last();
    expect(last(FLEET_SERIES.busyMean)).toBeCloseTo(0.4, 9);
    expect(last(FLEET_SERIES.busyMax)).toBe(0.6);
    // 3 serving at a mean of 0.4: 1.2 of work over 2 members
    expect(last(FLEET_SERIES.busyIfOneLess)).toBeCloseTo(0.6, 9);
    expect(last(FLEET_SERIES.queueWaitP95Ms)).toBe(20);
  });

  it('writes the fleet demand: the mean of demandNow, busyNow for summaries without it', async () => {
    const now = clock.now();
    await region.cloudFor(ids[0]).publishSummary({ ...summary(now, 1), demandNow: 3 });
    await region.cloudFor(ids[2]).publishSummary(summary(now, 0.5)); // an older governor: no demandNow
    h.blackboard.set(SIGNAL_KEYS.summary, { ...summary(now, 1), demandNow: 2 });
    await h.run(fleet);
    expect(h.blackboard.series(FLEET_KEYS.demand).last()).toBeCloseTo((3 + 2 + 0.5) / 3, 9);
    expect(h.blackboard.series(FLEET_SERIES.busyMean).last()).toBeCloseTo(2.5 / 3, 9);
  });

  it('journals a member pending beyond scaling.bootTimeoutMs as stuck, once', async () => {
    const { id: booting } = await region.registry.createInstance({ fleet: FLEET, region: REGION, launchedBy: ids[0] });
    const stuckAfter = testConfig().scaling.bootTimeoutMs;
    await h.run(fleet);
    await clock.advance(stuckAfter);
    await h.run(fleet);
    expect(h.journal.query({ kind: 'error', name: 'fleet' })).toHaveLength(0);
    await clock.advance(1000);
    await h.run(fleet);
    await clock.advance(5000);
    await h.run(fleet);
    const stuck = h.journal.query({ kind: 'error', name: 'fleet' });
    expect(stuck.map((e) => e.data?.id)).toEqual([booting]);
    expect(stuck[0].reason).toBe(`instance ${booting} is stuck: pending for ${stuckAfter / 1000 + 1} s (scaling.bootTimeoutMs ${stuckAfter} ms); no longer counted as a booting launch`);
    expect(h.blackboard.get(FLEET_KEYS.stuck)).toEqual([booting]);
    // once it is gone, it is forgotten
    await region.registry.markTerminated(booting, 'never booted');
    await h.run(fleet);
    expect(h.blackboard.get(FLEET_KEYS.stuck)).toEqual([]);
  });

  it('a single serving member cannot lose one: busyIfOneLess is the large sentinel', async () => {
    await region.cloudFor(ids[0]).markLeaving();
    await region.cloudFor(ids[2]).markLeaving();
    h.blackboard.set(SIGNAL_KEYS.summary, summary(clock.now(), 0.1));
    await h.run(fleet);
    expect(h.blackboard.series(FLEET_SERIES.busyIfOneLess).last()).toBe(NO_SMALLER_FLEET_BUSY);
    expect(h.blackboard.get(PLAIN_FACTS.fleetLeaving)).toBe(2);
  });

  it('pushes no load series without any fresh summary', async () => {
    await h.run(fleet);
    expect(h.blackboard.series(FLEET_SERIES.busyMean).count(3600)).toBe(0);
    expect(h.blackboard.series(FLEET_SERIES.size).count(3600)).toBe(1);
  });

  it('tracks membership changes and journals them', async () => {
    await h.run(fleet);
    await clock.advance(5000);
    await h.run(fleet);
    const first = h.blackboard.get(FLEET_KEYS.lastChangeAt);
    expect(h.entries('fleet')).toHaveLength(0);

    await clock.advance(5000);
    await region.cloudFor(ids[0]).markLeaving();
    await h.run(fleet);
    expect(h.blackboard.get(FLEET_KEYS.lastChangeAt)).toBe(clock.now());
    expect(h.blackboard.get(FLEET_KEYS.lastChangeAt)).not.toBe(first);

    await clock.advance(5000);
    await region.cloudFor(ids[0]).terminateSelf();
    const [joined] = await region.addRunning(1);
    await h.run(fleet);
    expect(h.entries('fleet').map((e) => e.reason)).toEqual([
      `fleet changed: ${ids[0]} running -> leaving`,
      `fleet changed: joined ${joined} (running); left ${ids[0]}`,
    ]);
    expect(view().map((i) => i.rank)).toEqual([0, 1, 2]);
    expect(h.blackboard.get(PLAIN_FACTS.myRank)).toBe(0);
  });

  it('keeps the last view on a cloud failure, marks it stale and journals the error once a minute', async () => {
    await h.run(fleet);
    const before = view();
    region.failures.failNext('listFleet', 3);
    await clock.advance(5000);
    await h.run(fleet);
    expect(view()).toBe(before);
    expect(h.blackboard.get(FLEET_KEYS.stale)).toBe(true);
    expect(h.blackboard.get(FLEET_KEYS.error)).toMatchObject({ code: 'GOV_ERR_CLOUD_UNAVAILABLE' });
    await clock.advance(5000);
    await h.run(fleet); // same failure within a minute: not journaled again
    await clock.advance(60_000);
    await h.run(fleet);
    const errors = h.journal.query({ kind: 'error' });
    expect(errors).toHaveLength(2);
    expect(errors[0].reason).toMatch(/^listFleet failed: listFleet: cloud unavailable/);

    await clock.advance(5000);
    await h.run(fleet);
    expect(h.blackboard.get(FLEET_KEYS.stale)).toBe(false);
    expect(h.blackboard.has(FLEET_KEYS.error)).toBe(false);

    // after a success the same failure is news again
    region.failures.failNext('listFleet');
    await clock.advance(5000);
    await h.run(fleet);
    expect(h.journal.query({ kind: 'error' })).toHaveLength(3);
  });

  it('journals a failed publish and still lists', async () => {
    h.blackboard.set(SIGNAL_KEYS.summary, summary(clock.now(), 0.5));
    region.failures.failNext('publishSummary');
    await h.run(fleet);
    expect(view()).toHaveLength(3);
    expect(h.journal.query({ kind: 'error' }).map((e) => e.reason)).toEqual([
      'publishSummary failed: publishSummary: cloud unavailable (injected failure)',
    ]);
  });
});
