import { describe, expect, it } from 'vitest';
import { FleetModel, weightedPercentile } from '../../governor/simulator/fleet-model.js';
import type { VirtualClock } from '../../governor/virtual-clock.js';
import { SimInstance, attackerAddress } from '../../governor/simulator/instance-model.js';
import { erlangC, stationaryWait } from '../../governor/simulator/queueing.js';

const SPEC = { capacityRps: 200, servers: 1, drainS: 5, queueTimeoutS: 10 };

describe('queueing formulas', () => {
  it('M/M/1: P(wait) = rho, Wq95 = ln(20 rho) / (mu - lambda), E[Wq] = rho / (mu - lambda)', () => {
    const w = stationaryWait(170, 200, 1);
    expect(w.pWait).toBeCloseTo(0.85, 12);
    expect(w.quantileS(0.95)).toBeCloseTo(Math.log(20 * 0.85) / 30, 12);
    expect(w.meanS).toBeCloseTo(0.85 / 30, 12);
    expect(stationaryWait(5, 200, 1).quantileS(0.95)).toBe(0); // fewer than 5% of requests wait at all
  });

  it('Erlang C matches known values and saturates at 1', () => {
    expect(erlangC(2, 1)).toBeCloseTo(1 / 3, 12);
    expect(erlangC(1, 0.5)).toBeCloseTo(0.5, 12);
    expect(erlangC(4, 4)).toBe(1);
    expect(erlangC(3, 0)).toBe(0);
    expect(() => stationaryWait(200, 200, 1)).toThrow(RangeError);
  });
});

describe('SimInstance', () => {
  it('reports busy = lambda / mu and the M/M/1 p95 in its interval sample', () => {
    const instance = new SimInstance('i-1', SPEC);
    instance.step(100, 1, 10);
    instance.step(100, 1, 10);
    const s = instance.sample();
    expect(s.intervalMs).toBe(2000);
    expect(s.busy).toBeCloseTo(0.5, 12);
    expect(s.requests).toBe(200);
    expect(s.queueWaitMs.p95).toBeCloseTo((Math.log(20 * 0.5) / 100) * 1000, 9);
    expect(s.topClients).toHaveLength(5);
    expect(instance.sample().intervalMs).toBe(0); // the next sample covers only what came after
  });

  it('builds a backlog under overload, sheds beyond the queue timeout, and recovers', () => {
    const instance = new SimInstance('i-1', SPEC);
    let shed = 0;
    for (let s = 0; s < 20; s++) shed += instance.step(400, 1, 10).shed;
    expect(instance.backlogRequests()).toBe(10 * 200); // capped at queueTimeoutS x capacity
    expect(shed).toBeCloseTo(20 * 200 - 2000, 6);
    expect(instance.step(400, 1, 10).p95Ms).toBeGreaterThan(10_000);
    for (let s = 0; s < 30; s++) instance.step(100, 1, 10);
    expect(instance.backlogRequests()).toBe(0);
    expect(instance.step(100, 1, 10).busy).toBeCloseTo(0.5, 12);
  });

  it('a busy loop keeps it busy without traffic and slows what it serves', () => {
    const instance = new SimInstance('i-1', SPEC);
    instance.spin = 0.9;
    expect(instance.step(0, 1, 0).busy).toBeCloseTo(0.9, 12);
    expect(instance.step(10, 1, 10).busy).toBeCloseTo(0.9 + 0.1 * (10 / 20), 12);
    expect(instance.step(30, 1, 10).busy).toBe(1);
  });
});

describe('FleetModel', () => {
  it('spreads the rate evenly over ready instances only, and counts every member', () => {
    const fleet = new FleetModel(SPEC);
    const a = fleet.create('a');
    const b = fleet.create('b');
    fleet.create('booting');
    a.setReady(true);
    b.setReady(true);
    const second = fleet.step(0, { rate: 200, clients: 1000 }, 1);
    expect(second).toMatchObject({ members: 3, ready: 2, shed: 0 });
    expect(second.busy).toBeCloseTo(0.5, 12);
    expect(a.last.requests).toBe(100);
    expect(fleet.get('booting')!.last.requests).toBe(0);
  });

  it('sheds everything when nothing is ready', () => {
    const fleet = new FleetModel(SPEC);
    fleet.create('booting');
    expect(fleet.step(0, { rate: 50, clients: 1000 }, 1)).toMatchObject({ ready: 0, busy: 1, shed: 50 });
  });

  it('sends every ready instance its share of each attacker; an instance that blocks them serves only the rest', () => {
    let now = 0;
    const clock = { now: () => now } as unknown as VirtualClock;
    const fleet = new FleetModel(SPEC);
    const [a, b] = [fleet.create('a', clock), fleet.create('b', clock)];
    a.setReady(true);
    b.setReady(true);
    const traffic = { rate: 360, clients: 1000, attack: { rate: 300, addresses: 3 } };
    fleet.step(0, traffic, 1);
    expect([a.last.requests, b.last.requests]).toEqual([180, 180]);
    const sample = a.sample();
    expect(sample.topClients.slice(0, 3)).toEqual([0, 1, 2].map((i) => ({ address: attackerAddress(i), requests: 50 })));
    expect(sample.requests).toBe(180);

    for (const i of [0, 1]) a.block(attackerAddress(i), 60_000, 'test');
    fleet.step(1, traffic, 1);
    expect(a.last.requests).toBeCloseTo(80, 9); // 180 offered, 2 x 50 refused
    expect(b.last.requests).toBe(180);
    const blocked = a.sample();
    expect(blocked.requests).toBe(180); // refused requests are counted, as the real proxy counts them
    expect(blocked.status['4xx']).toBe(100);
    expect(a.blocked().map((e) => e.address)).toEqual([attackerAddress(0), attackerAddress(1)]);

    now = 60_000; // the blocks expire
    fleet.step(2, traffic, 1);
    expect(a.last.requests).toBe(180);
    expect(a.blocked()).toEqual([]);
  });

  it('weightedPercentile weighs values by their requests', () => {
    expect(weightedPercentile([[10, 1], [100, 1]], 0.95)).toBe(100);
    expect(weightedPercentile([[10, 99], [100, 1]], 0.95)).toBe(10);
    expect(weightedPercentile([], 0.95)).toBe(0);
  });
});
