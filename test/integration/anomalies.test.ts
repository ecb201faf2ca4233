import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { VirtualClock } from '../../governor/virtual-clock.js';
import { PLAIN_FACTS } from '../../governor/facts.js';
import type { Governor } from '../../governor/governor.js';
import type { JournalQuery } from '../../governor/journal-types.js';
import type { ProxySample, WorkerSample } from '../../proxy/types.js';
import { testConfig } from '../tasks/context.js';
import { sampleOf, type FakeProxy } from '../tasks/fake-proxy.js';
import { FakeProxyWithControls } from '../tasks/fake-proxy-controls.js';
import { VirtualRegion } from './virtual-region.js';

const SECOND = 1000;
const MIN = 60 * SECOND;
/** Requests per second one instance's worth of load brings. */
const RPS_PER_UNIT = 1000;
/** Legitimate traffic comes from 20 addresses, 5% each (the 10 busiest are listed). */
const CLIENTS = 20;
const ATTACKER = '203.0.113.9';

function workers(list: Array<[id: number, busy: number, requests: number]>): WorkerSample[] {
  return list.map(([id, busy, requests]) => ({ id, pid: 4000 + id, busy, requests, inFlight: 0 }));
}

/** One second of ordinary traffic carrying `share` of an instance's capacity, spread over two workers. */
function ordinary(share: number, workerIds: [number, number] = [1, 2]): ProxySample {
  const requests = Math.round(share * RPS_PER_UNIT);
  const busy = Math.min(1, share);
  return sampleOf({
    busy,
    requests,
    topClients: Array.from({ length: 10 }, (_, i) => ({ address: `198.51.100.${i + 1}`, requests: Math.round(requests / CLIENTS) })),
    workers: workers(workerIds.map((id) => [id, busy, Math.round(requests / 2)])),
  });
}

/**
 * The anomaly rules (issue #7) with the DEFAULT rules and the default configuration: real
 * governors, scheduler, rules and action tasks under virtual time, the proxy played by a fake
 * with a denylist and restartable workers.
 */
describe('anomalies in a virtual region, default rules', () => {
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

  /** One instance of a region with the default config and rules, its proxy a FakeProxyWithControls. */
  async function region(sampleFor: (share: number, proxy: FakeProxyWithControls) => ProxySample): Promise<{ governor: Governor; proxy: FakeProxyWithControls }> {
    vr = await VirtualRegion.create(clock, testConfig());
    vr.makeProxy = () => new FakeProxyWithControls(clock);
    vr.sampleFor = (share: number, proxy: FakeProxy) => sampleFor(share, proxy as FakeProxyWithControls);
    const [id] = await vr.start(1);
    return { governor: vr.governors.get(id)!, proxy: vr.proxies.get(id) as FakeProxyWithControls };
  }
  const launched = async () => (await vr!.allInstances()).filter((i) => i.launchedBy !== 'operator');
  const entries = (g: Governor, q: JournalQuery) => g.journal.query({ limit: 10_000, ...q });
  /** Past the default 5-minute warm-up at a light load: from here on scale-up may act. */
  async function warmUp(g: Governor): Promise<void> {
    vr!.load = 0.2;
    await vr!.run(5 * MIN + 10 * SECOND);
    expect(g.blackboard.get(PLAIN_FACTS.windowsFilled)).toBe(true);
  }

  it('control: a sustained overload launches', async () => {
    const { governor } = await region((share) => ordinary(share));
    await warmUp(governor);
    vr!.load = 0.9;
    await vr!.run(3 * MIN);
    expect((await launched()).length).toBeGreaterThan(0);
    expect(entries(governor, { name: 'scale-up', kind: 'action' }).length).toBeGreaterThan(0);
  }, 60_000);

  it('a cron-like spike (busy 90% for 40 s every 5 minutes) never launches in 30 minutes', async () => {
    const { governor } = await region((share) => ordinary(share));
    for (let cycle = 0; cycle < 6; cycle++) {
      vr!.load = 0.9;
      await vr!.run(40 * SECOND);
      vr!.load = 0.05;
      await vr!.run(4 * MIN + 20 * SECOND);
    }
    expect(governor.blackboard.get(PLAIN_FACTS.windowsFilled)).toBe(true);
    expect(Math.max(...governor.blackboard.series('busy').points(3600).map(([, v]) => v))).toBe(0.9);
    expect(await launched()).toEqual([]);
    expect(vr!.history.every((s) => s.members === 1)).toBe(true);
    expect(entries(governor, { kind: 'intent' }).map((e) => e.name)).toEqual([]); // no rule fired at all
  }, 120_000);

  it('a spinning worker is restarted, once, and the fleet does not grow for it', async () => {
    let spinning = false;
    const { governor, proxy } = await region((share, p) => {
      if (p.restartCalls.length > 0) return ordinary(share, [1, 100]); // worker 100 replaced worker 2
      if (!spinning) return ordinary(share);
      // worker 2 spins: fully busy, serving nothing; worker 1 serves everything
      const requests = Math.round(share * RPS_PER_UNIT);
      return { ...ordinary(share), busy: 0.925, workers: workers([[1, 0.85, requests], [2, 1, 0]]) };
    });
    await warmUp(governor);
    spinning = true;
    const spinAt = clock.now();
    await vr!.run(6 * MIN);

    expect(proxy.restartCalls).toEqual([2]);
    const [restart] = entries(governor, { name: 'restart-worker', kind: 'action' });
    expect(restart.reason).toMatch(/^restarted worker 2 \(pid 4002, busy 100%, 0 request\(s\)\): it spins without serving; replaced by worker 100; rule 'busy-loop' \(busy-loop.json\)$/);
    expect(restart.at - spinAt).toBeGreaterThanOrEqual(60 * SECOND);
    expect(restart.at - spinAt).toBeLessThanOrEqual(70 * SECOND);
    // the spin made the fleet look busy enough to scale up; the hold kept it from launching
    expect(entries(governor, { name: 'scale-up', kind: 'intent' }).length).toBeGreaterThan(0);
    expect(entries(governor, { name: 'scale-up', kind: 'suppressed' }).some((e) => e.data?.code === 'held')).toBe(true);
    expect(entries(governor, { name: 'hold', kind: 'intent' })[0].data).toMatchObject({ state: 'appeared', rule: 'busy-loop-hold' });
    expect(await launched()).toEqual([]);
  }, 60_000);

  it('one address carrying 95% of the traffic is blocked, and the fleet does not grow for it', async () => {
    let attacking = false;
    const { governor, proxy } = await region((share, p) => {
      const base = ordinary(share);
      if (!attacking) return base;
      // the attacker's requests are still received (and counted) once blocked, but cost little
      const attack = 19 * base.requests;
      return {
        ...base,
        requests: base.requests + attack,
        busy: p.isBlocked(ATTACKER) ? Math.min(1, share + 0.03) : 0.95,
        topClients: [{ address: ATTACKER, requests: attack }, ...base.topClients].slice(0, 10),
      };
    });
    await warmUp(governor);
    attacking = true;
    const attackAt = clock.now();
    await vr!.run(5 * MIN);

    expect(proxy.blockCalls.map((b) => b.address)).toEqual([ATTACKER]);
    expect(proxy.isBlocked(ATTACKER)).toBe(true);
    const [block] = entries(governor, { name: 'block-clients', kind: 'action' });
    expect(block.reason).toMatch(/^blocked 203\.0\.113\.9: it sent 3800 of 4000 requests \(95%\) in the last second, until .* \(600 s\); rule 'denial-of-service'/);
    // a 10 s window, then the next rules run (every 5 s) and block-clients run (every second)
    expect(block.at - attackAt).toBeLessThanOrEqual(16 * SECOND);
    const [hold] = entries(governor, { name: 'hold', kind: 'intent' });
    expect(hold.at - attackAt).toBeLessThanOrEqual(5 * SECOND); // from the flood's first second
    expect(proxy.blockCalls[0].untilMs).toBe(block.at + 600 * SECOND);
    expect(hold.data).toMatchObject({ state: 'appeared', rule: 'denial-of-service-hold' });
    expect(await launched()).toEqual([]);
    expect(proxy.unblockCalls).toEqual([]);
  }, 60_000);
});
