import { SimInstance, type InstanceSpec } from './instance-model.js';
import type { AttackTraffic } from './traces.js';

/** What happened to the fleet in one simulated second. */
export interface SecondRecord {
  /** Seconds from the start of the trace. */
  t: number;
  /** Offered requests/s. */
  rate: number;
  /** Instances that exist (booting, serving or leaving): what is paid for. */
  members: number;
  /** Instances the load balancer sends traffic to. */
  ready: number;
  /** Mean busy of the ready instances (1 when none is ready). */
  busy: number;
  /** Queueing p95 across the ready instances, weighted by requests (ms). */
  p95Ms: number;
  /** Requests shed in the second (no ready instance, or backlog beyond the queue timeout). */
  shed: number;
}

/** A launch or a leave, with why. */
export interface ScaleEvent {
  t: number;
  /** 'lost': a launched instance never booted (the cloud ended it). */
  kind: 'launch' | 'leave' | 'lost';
  id: string;
  reason: string;
}

/** Queueing p95 reported when nothing serves (every request is shed). */
const NO_SERVICE_P95_MS = 10_000;

/**
 * The fleet as the load balancer sees it: every existing instance, and each second the trace's
 * rate spread evenly (round robin) over the ready ones. Which instances exist and when they are
 * ready is the policy runner's business; this class only serves and measures.
 */
export class FleetModel {
  private readonly instances = new Map<string, SimInstance>();

  constructor(readonly spec: InstanceSpec) {}

  /** A new (billed, not yet ready) instance. */
  add(instance: SimInstance): SimInstance {
    this.instances.set(instance.id, instance);
    return instance;
  }

  create(id: string, clock?: ConstructorParameters<typeof SimInstance>[2]): SimInstance {
    return this.add(new SimInstance(id, this.spec, clock));
  }

  /** The instance is gone (terminated): no longer billed. */
  remove(id: string): void {
    this.instances.delete(id);
  }

  get(id: string): SimInstance | undefined {
    return this.instances.get(id);
  }

  ids(): string[] {
    return [...this.instances.keys()];
  }

  get size(): number {
    return this.instances.size;
  }

  /**
   * Serves second `t` over `dtS` seconds: `traffic.rate` requests/s, of which the attack's part
   * comes from its few addresses and the rest from `traffic.clients` addresses, spread evenly
   * over the ready instances (every one sees every attacker); every instance steps (idle ones at 0).
   */
  step(t: number, traffic: { rate: number; clients: number; attack?: AttackTraffic }, dtS: number): SecondRecord {
    const { rate, clients, attack } = traffic;
    const ready = [...this.instances.values()].filter((i) => i.isReady());
    const share = ready.length > 0 ? rate / ready.length : 0;
    const clientsEach = ready.length > 0 ? Math.max(1, clients / ready.length) : 0;
    const attackEach = attack && ready.length > 0 ? { rate: attack.rate / ready.length, addresses: attack.addresses } : undefined;
    let busy = 0;
    let shed = ready.length > 0 ? 0 : rate * dtS;
    const p95s: Array<[p95: number, served: number]> = [];
    for (const instance of this.instances.values()) {
      const serving = ready.includes(instance);
      const outcome = serving ? instance.step(share, dtS, clientsEach, attackEach) : instance.step(0, dtS, 0);
      if (!serving) continue;
      busy += outcome.busy;
      shed += outcome.shed;
      p95s.push([outcome.p95Ms, Math.max(0, outcome.requests - outcome.shed)]);
    }
    return {
      t,
      rate,
      members: this.instances.size,
      ready: ready.length,
      busy: ready.length > 0 ? busy / ready.length : 1,
      p95Ms: ready.length > 0 ? weightedPercentile(p95s, 0.95) : NO_SERVICE_P95_MS,
      shed,
    };
  }
}

/** The value below which `p` of the total weight lies (values with their weights). */
export function weightedPercentile(points: Array<[value: number, weight: number]>, p: number): number {
  if (points.length === 0) return 0;
  const sorted = [...points].sort((a, b) => a[0] - b[0]);
  const total = sorted.reduce((sum, [, w]) => sum + w, 0);
  if (total <= 0) return sorted.at(-1)![0];
  let seen = 0;
  for (const [value, weight] of sorted) {
    seen += weight;
    if (seen >= p * total) return value;
  }
  return sorted.at(-1)![0];
}

/** Everything a policy run leaves behind, for scoring and output. */
export interface RunRecord {
  policy: string;
  seconds: SecondRecord[];
  events: ScaleEvent[];
  /** Launch slots that got more than one instance (governed runs; 0 for central policies). */
  duplicateLaunches: number;
  /** Problems an invariant check found (empty when every invariant held). */
  violations: string[];
}
