import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { VirtualClock } from '../../governor/virtual-clock.js';
import type { GovernorConfig } from '../../governor/config-types.js';
import { testConfig } from '../tasks/context.js';
import { VirtualRegion } from './virtual-region.js';

const FAST_RULES = fileURLToPath(new URL('../fixtures/rules-fast', import.meta.url));

/** The default tasks with the short-window test rules and short protocol timings. */
function fastConfig(scaling: Partial<GovernorConfig['scaling']> = {}): GovernorConfig {
  return testConfig({
    rulesDir: FAST_RULES,
    tasks: { overrides: { rules: { schedule: '*/2 * * * * *' }, fleet: { schedule: '*/2 * * * * *' } } },
    scaling: {
      minInstances: 1,
      maxInstances: 4,
      warmupMs: 30_000,
      scaleUpSpacingMs: 10_000,
      scaleDownSpacingMs: 20_000,
      launcherGraceMs: 10_000,
      ...scaling,
    },
    shutdown: { notReadyMs: 1000, drainTimeoutMs: 2000, phaseTimeoutMs: 2000 },
  });
}

/**
 * The coordination protocol with N real governors under virtual time (issue #3): the real
 * scheduler, tasks and rules against the local adapter, the harness playing the machines.
 */
describe('a virtual region of real governors', () => {
  let clock: VirtualClock;
  let vr: VirtualRegion | undefined;

  beforeEach(() => {
    clock = new VirtualClock();
  });
  afterEach(async () => {
    await vr?.cleanup();
    vr = undefined;
    clock.uninstall();
  });

  it('grows under load up to the regional cap and never above it, one instance per slot', async () => {
    vr = await VirtualRegion.create(clock, fastConfig());
    await vr.start(1);
    vr.load = 10;
    await vr.run(240_000);

    const maxMembers = Math.max(...vr.history.map((s) => s.members));
    expect(maxMembers).toBe(4);
    const all = await vr.allInstances();
    expect(all).toHaveLength(4);
    const slots = all.filter((i) => i.launchSlot).map((i) => i.launchSlot);
    expect(new Set(slots).size).toBe(slots.length);
  }, 120_000);

  it('shrinks oldest first, one at a time, never below the minimum', async () => {
    vr = await VirtualRegion.create(clock, fastConfig());
    const ids = await vr.start(3);
    vr.load = 0.1;
    await vr.run(300_000);

    const all = await vr.allInstances();
    const left = all.filter((i) => i.state === 'terminated').sort((a, b) => a.endTime! - b.endTime!);
    expect(left.map((i) => i.id)).toEqual(ids.slice(0, 2));
    expect(all.filter((i) => i.state !== 'terminated').map((i) => i.id)).toEqual([ids[2]]);
    expect(Math.min(...vr.history.map((s) => s.members))).toBe(1);
    expect(Math.max(...vr.history.map((s) => s.leaving))).toBeLessThanOrEqual(1);
    // the last instance keeps wanting to shrink and is never shut down
    const survivor = vr.governors.get(ids[2])!;
    expect(survivor.journal.query({ name: 'scale-down', kind: 'action' })).toEqual([]);
  }, 120_000);

  it('launches once per slot when every governor decides the same scale-up at the same moment', async () => {
    vr = await VirtualRegion.create(clock, fastConfig({ launcherGraceMs: 0, maxLaunchPerStep: 2 }));
    await vr.start(3);
    vr.load = 2.7;
    await vr.run(60_000);

    const all = await vr.allInstances();
    const launched = all.filter((i) => i.launchedBy !== 'operator');
    const actions = [...vr.governors.values()].flatMap((g) => g.journal.query({ name: 'scale-up', kind: 'action' }));
    const takenByPeer = [...vr.governors.values()].flatMap((g) =>
      g.journal.query({ name: 'launch' }).filter((e) => /taken by a peer/.test(e.reason)),
    );
    // all three governors decided the same launch at the same moment; one instance came of it
    expect(actions).toHaveLength(3);
    expect(launched).toHaveLength(1);
    expect(takenByPeer).toHaveLength(2);
    expect(all.length).toBeLessThanOrEqual(4);
  }, 120_000);

  it('replaces a stuck rank 0 as launcher by rank 1 after its grace', async () => {
    vr = await VirtualRegion.create(clock, fastConfig({ launcherGraceMs: 20_000 }));
    const ids = await vr.start(3);
    await vr.run(35_000); // windows filled everywhere
    await vr.halt(ids[0], { stuck: true });
    vr.load = 3;
    const loadOnset = clock.now();
    await vr.run(90_000);

    const launched = (await vr.allInstances()).filter((i) => i.launchedBy !== 'operator');
    expect(launched.length).toBeGreaterThan(0);
    expect(launched[0].launchedBy).toBe(ids[1]);
    // the need had to persist one grace period (plus the rule's 10 s window) before rank 1 acted
    expect(launched[0].launchTime - loadOnset).toBeGreaterThanOrEqual(20_000);
  }, 120_000);

  it('holds scaling intents on a fresh governor until its windows are filled (restart safety)', async () => {
    vr = await VirtualRegion.create(clock, fastConfig({ warmupMs: 90_000 }));
    await vr.start(2);
    vr.load = 0;
    await vr.run(80_000);
    expect((await vr.allInstances()).every((i) => i.state === 'running')).toBe(true);
    const oldest = [...vr.governors.values()][0];
    const held = oldest.journal.query({ name: 'scale-down', kind: 'suppressed', limit: 1000 });
    expect(held.some((e) => e.data?.code === 'warming-up')).toBe(true);

    await vr.run(60_000);
    expect((await vr.allInstances()).filter((i) => i.state === 'terminated')).toHaveLength(1);
  }, 120_000);
});
