import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { VirtualClock } from '../../governor/virtual-clock.js';
import type { RankedInstance } from '../../governor/coordination.js';
import { PLAIN_FACTS } from '../../governor/facts.js';
import { Governor } from '../../governor/governor.js';
import controlledShutdown, { SHUTDOWN_KEYS } from '../../tasks/controlled-shutdown.js';
import fleet, { FLEET_KEYS } from '../../tasks/fleet.js';
import scaleDown from '../../tasks/scale-down.js';
import scaleUp from '../../tasks/scale-up.js';
import signals from '../../tasks/signals.js';
import { FLEET, REGION, TestRegion, realDelay, testConfig } from './context.js';
import { FakeProxy, sampleOf } from './fake-proxy.js';

/**
 * The tasks under the real scheduler (node-cron in virtual time): two governors of one local
 * region warm up, see each other, and the oldest leaves when both want to shrink.
 */
describe('signal, fleet and action tasks under the scheduler', () => {
  let clock: VirtualClock;
  let region: TestRegion;
  const governors: Governor[] = [];

  beforeEach(async () => {
    clock = new VirtualClock();
    region = await TestRegion.create(clock);
  });
  afterEach(async () => {
    for (const g of governors.splice(0)) await g.stop();
    clock.uninstall();
    await region.cleanup();
  });

  const anyRunning = () =>
    governors.some((g) => g.blackboard.keys('tasks.').some((key) => g.blackboard.get<{ outcome: string }>(key)?.outcome === 'running'));

  /**
   * Moves virtual time by `ms` in 100 ms steps. Before each step, runs doing file I/O (the state
   * directory) get up to 50 ms of real time to finish, so a loaded machine does not make them span
   * seconds of virtual time (a run sleeping on virtual time just costs the 50 ms).
   */
  async function pass(ms: number): Promise<void> {
    for (let t = 0; t < ms; t += 100) {
      const deadline = performance.now() + 50;
      do await realDelay(0);
      while (anyRunning() && performance.now() < deadline);
      await clock.advance(100);
    }
  }

  it('warms up, lists the fleet, and rank 0 leaves by a controlled shutdown', async () => {
    const ids = await region.addRunning(2);
    const config = testConfig({
      scaling: { warmupMs: 20_000, scaleDownSpacingMs: 5_000 },
      shutdown: { notReadyMs: 1000, drainTimeoutMs: 1000, phaseTimeoutMs: 1000 },
    });
    for (const id of ids) {
      const proxy = new FakeProxy();
      proxy.next = sampleOf({ busy: 0.05, requests: 5 });
      const g = new Governor({ config, clock, cloud: region.cloudFor(id), log: pino({ level: 'silent' }), proxy, tasks: [signals, fleet, scaleUp, scaleDown, controlledShutdown] });
      await g.start();
      governors.push(g);
    }
    const [oldest, newest] = governors;
    const wantShrink = () => {
      for (const g of governors) {
        g.blackboard.set('intents.scale-down', { type: 'scale-down', rule: 'idle', file: 'test', params: {}, facts: {}, at: clock.now() });
      }
    };

    wantShrink();
    await pass(10_000);
    expect(oldest.blackboard.get(PLAIN_FACTS.windowsFilled)).toBe(false);
    expect(oldest.journal.query({ name: 'scale-down', kind: 'suppressed' })[0].data).toEqual({ code: 'warming-up' });
    expect(oldest.blackboard.get<RankedInstance[]>(FLEET_KEYS.view)!.map((i) => i.id)).toEqual(ids);

    await pass(15_000);
    expect(oldest.blackboard.get(PLAIN_FACTS.windowsFilled)).toBe(true);
    const listed = await region.registry.list(FLEET, REGION);
    expect(listed.every((i) => i.summary && i.summary.busy1m > 0.04)).toBe(true);

    wantShrink();
    await pass(10_000);
    expect(oldest.blackboard.get(SHUTDOWN_KEYS.done)).toBe(true);
    expect(newest.journal.query({ name: 'scale-down', kind: 'suppressed' }).map((e) => e.data?.code)).toContain('not-rank-0');
    expect((await region.registry.get(ids[0]))!.state).toBe('terminated');
    expect((await region.registry.get(ids[1]))!.state).toBe('running');
    for (const g of governors) expect(g.journal.query({ kind: 'error' })).toEqual([]);
  });
});
