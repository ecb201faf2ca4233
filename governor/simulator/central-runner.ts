import { FleetModel, type RunRecord, type ScaleEvent, type SecondRecord } from './fleet-model.js';
import type { SimInstance } from './instance-model.js';
import type { ObservedInstance, ReferencePolicy } from './policies.js';
import { seededRng } from './rng.js';
import { trafficAt } from './traces.js';
import { LaunchLuck, checkRunSpec, type RunSpec } from './spec.js';

interface Member {
  instance: SimInstance;
  launchedAt: number;
  /** When it starts serving; undefined once it does. */
  readyAt?: number;
  neverBoots: boolean;
  /** When a leaving member is gone; undefined while it is not leaving. */
  goneAt?: number;
}

/** Applies the busy-loop fault: the oldest serving instance spins during the fault's window. */
export function applyBusyLoop(spec: RunSpec, t: number, serving: () => SimInstance | undefined, state: { victim?: SimInstance }): void {
  const loop = spec.faults.busyLoop;
  if (!loop) return;
  if (t === loop.atS) {
    state.victim = serving();
    if (state.victim) state.victim.spin = loop.spin;
  } else if (t === loop.atS + loop.durationS && state.victim) {
    state.victim.spin = 0;
  }
}

/**
 * Runs a central reference policy (or the oracle, with `instant`: boot and leave take no time)
 * over the trace, second by second: the model serves, the policy observes, and its decisions
 * are reconciled at once: launches boot after their drawn boot time, leaves take the booting
 * members first (newest first) and then the oldest serving ones, which stop receiving traffic
 * and are gone after the drain time. A launch or terminate call fails with the fault's API
 * failure rate (the policy asks again on its next tick, as a controller would).
 */
export function runCentral(policy: ReferencePolicy, input: RunSpec, opts: { instant?: boolean } = {}): RunRecord {
  const spec = checkRunSpec(input);
  const { trace, faults } = spec;
  const fleet = new FleetModel(spec.instance);
  const members = new Map<string, Member>();
  const luck = new LaunchLuck(spec);
  const apiRng = seededRng(spec.seed ^ 0x27d4eb2f);
  const seconds: SecondRecord[] = [];
  const events: ScaleEvent[] = [];
  const busyLoop: { victim?: SimInstance } = {};
  let launched = 0;

  const launch = (t: number, readyAt: number, neverBoots: boolean): void => {
    const id = `${policy.name}-${String(++launched).padStart(4, '0')}`;
    members.set(id, { instance: fleet.create(id), launchedAt: t, readyAt, neverBoots });
  };
  for (let i = 0; i < spec.initialInstances; i++) launch(0, 0, false);

  for (let t = 0; t < trace.rates.length; t++) {
    for (const [id, m] of members) {
      if (m.readyAt !== undefined && m.readyAt <= t) {
        m.readyAt = undefined;
        if (m.neverBoots) {
          members.delete(id);
          fleet.remove(id);
          events.push({ t, kind: 'lost', id, reason: 'never booted: the instance died while booting' });
        } else {
          m.instance.setReady(true);
        }
      }
      if (m.goneAt !== undefined && m.goneAt <= t) {
        members.delete(id);
        fleet.remove(id);
      }
    }
    applyBusyLoop(spec, t, () => [...members.values()].find((m) => m.instance.isReady())?.instance, busyLoop);

    const record = fleet.step(t, trafficAt(trace, t), 1);
    seconds.push(record);
    const active = [...members.values()].filter((m) => m.goneAt === undefined);
    const instances: ObservedInstance[] = active.map((m) => ({ age: t - m.launchedAt, ready: m.instance.isReady(), busy: m.instance.last.busy }));
    const decision = policy.observe({ t, current: active.length, instances, rate: trace.rates[t] });
    if (decision) reconcile(t + 1, decision.desired, decision.reason, active);
    if (t % 60 === 59) spec.onProgress?.((t + 1) / trace.rates.length);
  }
  return { policy: policy.name, seconds, events, duplicateLaunches: 0, violations: [] };

  function reconcile(at: number, desired: number, reason: string, active: Member[]): void {
    const apiCallFails = () => apiRng() < faults.apiFailureRate;
    for (let n = active.length; n < desired; n++) {
      if (apiCallFails()) continue;
      const draw = luck.next();
      launch(at, opts.instant ? at : at + draw.bootS, draw.neverBoots && !opts.instant);
      events.push({ t: at, kind: 'launch', id: `${policy.name}-${String(launched).padStart(4, '0')}`, reason });
    }
    const byLeaveOrder = [
      ...active.filter((m) => m.readyAt !== undefined).sort((a, b) => b.launchedAt - a.launchedAt),
      ...active.filter((m) => m.readyAt === undefined).sort((a, b) => a.launchedAt - b.launchedAt),
    ];
    for (const m of byLeaveOrder.slice(0, Math.max(0, active.length - desired))) {
      if (apiCallFails()) continue;
      m.readyAt = undefined; // a booting member that leaves never comes up
      m.instance.setReady(false);
      m.goneAt = opts.instant ? at : at + spec.instance.drainS;
      events.push({ t: at, kind: 'leave', id: m.instance.id, reason });
    }
  }
}
