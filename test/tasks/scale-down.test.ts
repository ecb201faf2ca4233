import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { VirtualClock } from '../../governor/virtual-clock.js';
import type { ConfigInput } from '../../governor/config.js';
import { PLAIN_FACTS } from '../../governor/facts.js';
import controlledShutdown, { SHUTDOWN_KEYS } from '../../tasks/controlled-shutdown.js';
import fleet from '../../tasks/fleet.js';
import scaleDown from '../../tasks/scale-down.js';
import { TaskHarness, TestRegion, drive, testConfig } from './context.js';
import { FakeProxy } from './fake-proxy.js';

const MIN = 60_000;
const quickShutdown = { notReadyMs: 1000, drainTimeoutMs: 2000, phaseTimeoutMs: 1000 };

describe('scale-down task', () => {
  let clock: VirtualClock;
  let region: TestRegion;
  let ids: string[];

  beforeEach(async () => {
    clock = new VirtualClock();
    region = await TestRegion.create(clock);
    ids = await region.addRunning(3);
    await clock.advance(11 * MIN); // past the default 10-minute scale-down spacing
  });
  afterEach(async () => {
    clock.uninstall();
    await region.cleanup();
  });

  async function governor(id: string, overrides: ConfigInput = {}): Promise<TaskHarness> {
    const h = new TaskHarness({ clock, config: testConfig({ shutdown: quickShutdown, ...overrides }), cloud: region.cloudFor(id), proxy: new FakeProxy() });
    h.register(controlledShutdown);
    h.blackboard.set(PLAIN_FACTS.windowsFilled, true);
    await h.run(fleet);
    want(h);
    return h;
  }
  function want(h: TaskHarness): void {
    h.blackboard.set('intents.scale-down', { type: 'scale-down', rule: 'idle', file: 'rules/default.json', params: {}, facts: {}, at: clock.now() });
  }
  const suppressed = (h: TaskHarness) => h.journal.query({ kind: 'suppressed', name: 'scale-down' });

  it('runs every 5 s within 4 s', () => {
    expect(scaleDown).toMatchObject({ name: 'scale-down', schedule: '*/5 * * * * *', timeoutMs: 4000 });
  });

  it('rank 0 leaves by a controlled shutdown of itself', async () => {
    const h = await governor(ids[0]);
    await h.run(scaleDown);
    const [action] = h.journal.query({ kind: 'action', name: 'scale-down' });
    expect(action.reason).toBe('leave as rank 0: 2 serving would remain (minInstances 1), last fleet change 661 s ago');
    expect(h.blackboard.get(SHUTDOWN_KEYS.request)).toMatchObject({ by: 'scale-down', reason: action.reason });
    expect(h.invoked).toEqual(['controlled-shutdown']);

    const record = await drive(clock, h.invoke('controlled-shutdown'));
    expect(record.outcome).toBe('ok');
    expect(h.blackboard.get(SHUTDOWN_KEYS.done)).toBe(true);
    expect((await region.registry.get(ids[0]))!.state).toBe('terminated');

    // the leave is not repeated while the shutdown is in force
    await h.run(scaleDown);
    expect(h.journal.query({ kind: 'action', name: 'scale-down' })).toHaveLength(1);
  });

  it('only rank 0 leaves: the others journal why not, once a minute', async () => {
    const h = await governor(ids[1]);
    await h.run(scaleDown);
    await clock.advance(5000);
    await h.run(scaleDown);
    expect(suppressed(h).map((e) => e.reason)).toEqual(['not rank 0: only the oldest instance leaves (this one is rank 1)']);
    expect(suppressed(h)[0].facts).toMatchObject({ myRank: 1, fleetSize: 3 });
    await clock.advance(MIN);
    await h.run(scaleDown); // the intent is stale by now: nothing wanted, nothing journaled
    expect(suppressed(h)).toHaveLength(1);
    want(h);
    await h.run(scaleDown);
    expect(suppressed(h)).toHaveLength(2);
    expect(h.invoked).toEqual([]);
  });

  it('one instance leaves at a time', async () => {
    await region.cloudFor(ids[0]).markLeaving();
    const h = await governor(ids[1]);
    await h.run(scaleDown);
    expect(suppressed(h)[0].data).toEqual({ code: 'another-leaving' });
  });

  it('never below the minimum, never the last instance', async () => {
    const h = await governor(ids[0], { scaling: { minInstances: 3 } });
    await h.run(scaleDown);
    expect(suppressed(h)[0].reason).toBe('would go below the minimum: 2 would remain, minInstances 3');

    await region.cloudFor(ids[1]).terminateSelf();
    await region.cloudFor(ids[2]).terminateSelf();
    const alone = await governor(ids[0]);
    await alone.run(scaleDown);
    expect(suppressed(alone)[0].data).toEqual({ code: 'last-instance' });
    expect(alone.invoked).toEqual([]);
  });

  it('waits the scale-down spacing after a fleet change', async () => {
    const h = await governor(ids[0], { scaling: { scaleDownSpacingMs: 20 * MIN } });
    await h.run(scaleDown);
    expect(suppressed(h)[0].reason).toBe('scale-down spacing: the fleet changed 661 s ago, a leave waits 1200 s');
  });

  it('restart safety: a fresh governor never shrinks the fleet on empty windows', async () => {
    const h = await governor(ids[0]);
    h.blackboard.set(PLAIN_FACTS.windowsFilled, false);
    await h.run(scaleDown);
    expect(suppressed(h)[0].data).toEqual({ code: 'warming-up' });
    expect(h.invoked).toEqual([]);
    expect(h.blackboard.has(SHUTDOWN_KEYS.request)).toBe(false);
  });

  it('dry run journals the leave and starts no shutdown', async () => {
    const h = await governor(ids[0], { scaling: { dryRun: true } });
    await h.run(scaleDown);
    expect(h.journal.query({ name: 'scale-down' })).toMatchObject([{ kind: 'action', data: { dryRun: true } }]);
    expect(h.invoked).toEqual([]);
  });

  it('a shutdown task that cannot be invoked is journaled and the request withdrawn', async () => {
    const h = new TaskHarness({ clock, config: testConfig(), cloud: region.cloudFor(ids[0]) });
    h.blackboard.set(PLAIN_FACTS.windowsFilled, true);
    await h.run(fleet);
    want(h);
    await h.run(scaleDown);
    await clock.settle();
    expect(h.journal.query({ kind: 'error' }).map((e) => e.reason)).toEqual(['could not start controlled-shutdown: no task controlled-shutdown']);
    expect(h.blackboard.has(SHUTDOWN_KEYS.request)).toBe(false);
  });
});
