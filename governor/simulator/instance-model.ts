import type { Clock } from '../clock.js';
import { Denylist } from '../../proxy/denylist.js';
import type { BlockedClient, ProxyControl, ProxySample, ProxyTotals } from '../../proxy/types.js';
import { stationaryWait } from './queueing.js';
import type { AttackTraffic } from './traces.js';

/** What every simulated instance is like (see queueing.ts for the formulas). */
export interface InstanceSpec {
  /** Requests/s one server completes (mu). */
  capacityRps: number;
  /** Servers per instance (c): 1 models one event loop (M/M/1). */
  servers: number;
  /** Seconds a leaving instance takes to finish its in-flight requests (plus its backlog). */
  drainS: number;
  /** A request that would wait longer than this in the backlog is shed (the proxy's queueTimeoutMs). */
  queueTimeoutS: number;
}

/** Utilization the stationary formulas are evaluated at, at most (overload is the backlog's part). */
const MAX_STATIONARY_RHO = 0.99;
/** Top client addresses a sample reports at most. */
const TOP_CLIENTS = 5;
/** Blocks an instance's denylist holds at most (the proxy's default limits.maxBlockedClients). */
const MAX_BLOCKED = 10_000;

/** The address of attacker i (TEST-NET-3): the same on every instance, as behind a load balancer. */
export const attackerAddress = (i: number): string => `203.0.113.${i + 1}`;
/** The address of the i-th busiest legitimate client (TEST-NET-2). */
const clientAddress = (i: number): string => `198.51.100.${i + 1}`;

/** One second (or step) of an instance's service, as the fleet metrics need it. */
export interface StepOutcome {
  requests: number;
  shed: number;
  busy: number;
  p95Ms: number;
}

/**
 * One instance of the fleet: its proxy as the governor sees it (ProxyControl) and its queue.
 *
 * Model, per step of dt seconds with arrival rate lambda (from the load balancer):
 * - effective capacity C = c mu (1 - spin), where `spin` is the fraction of the event loop a
 *   busy-loop bug burns (0 normally);
 * - busy = spin + (1 - spin) min(1, lambda / C), and 1 while a backlog remains;
 * - overload: when lambda >= C the backlog grows by (lambda - C) dt, otherwise it drains at
 *   C - lambda; requests that would wait longer than queueTimeoutS are shed (503);
 * - queueing time quantiles = the M/M/c stationary quantile at rho = min(lambda / C, 0.99)
 *   plus backlog / C (the wait behind the backlog);
 * - an attack's share of lambda comes from a few addresses (attackerAddress); the requests of
 *   those on the instance's denylist (`block`, as the real proxy's) are refused with 403 at no
 *   cost and are not part of lambda; like the real proxy, refused requests are still counted
 *   (requests, per-address counts, 4xx).
 * `sample()` returns the steps since the previous call, like the real proxy's interval stats.
 */
export class SimInstance implements ProxyControl {
  /** Fraction of the event loop burnt by a busy-loop bug (0..1). */
  spin = 0;
  /** The latest step's outcome (what a central metrics pipeline scrapes). */
  last: StepOutcome = { requests: 0, shed: 0, busy: 0, p95Ms: 0 };
  private ready = false;
  private draining = false;
  private backlog = 0;
  private window = emptyWindow();
  private readonly denylist: Denylist;
  private readonly total: ProxyTotals = {
    requests: 0,
    shed: 0,
    status: { '1xx': 0, '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0 },
    bytesIn: 0,
    bytesOut: 0,
    errors: {},
  };

  constructor(
    readonly id: string,
    private readonly spec: InstanceSpec,
    /** Times drain() and block expiries; the governor's clock (virtual) in a governed run. */
    private readonly clock?: Clock,
  ) {
    this.denylist = new Denylist(MAX_BLOCKED, () => this.clock?.now() ?? 0);
  }

  /**
   * Serves `offered` requests/s for `dtS` seconds: `attack.rate` of them from `attack.addresses`
   * attacking addresses, the rest from `clients` distinct addresses.
   */
  step(offered: number, dtS: number, clients: number, attack?: AttackTraffic): StepOutcome {
    const { capacityRps, servers, queueTimeoutS } = this.spec;
    const attackers = attack && attack.rate > 0 ? attack.addresses : 0;
    const perAttacker = attackers > 0 ? Math.min(offered, attack!.rate) / attackers : 0;
    let refusedRate = 0;
    for (let i = 0; i < attackers; i++) if (this.denylist.check(attackerAddress(i))) refusedRate += perAttacker;
    const lambda = offered - refusedRate;
    const spin = Math.min(1, Math.max(0, this.spin));
    const mu = capacityRps * (1 - spin);
    const capacity = servers * mu;
    const requests = lambda * dtS;

    let shed = 0;
    if (capacity <= 0) {
      shed = requests + this.backlog;
      this.backlog = 0;
    } else {
      this.backlog = Math.max(0, this.backlog + (lambda - capacity) * dtS);
      const maxBacklog = queueTimeoutS * capacity;
      if (this.backlog > maxBacklog) {
        shed = this.backlog - maxBacklog;
        this.backlog = maxBacklog;
      }
    }
    const rho = capacity > 0 ? lambda / capacity : 1;
    const loaded = this.backlog > 0 || rho >= 1 ? 1 : rho;
    const busy = spin + (1 - spin) * loaded;
    let p50 = 0;
    let p95 = 0;
    let p99 = 0;
    let queueLength = this.backlog;
    if (capacity > 0 && lambda > 0) {
      const cappedLambda = Math.min(lambda, MAX_STATIONARY_RHO * capacity);
      const wait = stationaryWait(cappedLambda, mu, servers);
      const behind = this.backlog / capacity;
      p50 = wait.quantileS(0.5) + behind;
      p95 = wait.quantileS(0.95) + behind;
      p99 = wait.quantileS(0.99) + behind;
      queueLength += wait.queueLength;
    }
    const w = this.window;
    const served = requests - Math.min(requests, shed);
    const refused = refusedRate * dtS;
    w.ms += dtS * 1000;
    w.busyMs += busy * dtS * 1000;
    w.requests += requests + refused;
    w.refused += refused;
    w.perAttacker += perAttacker * dtS;
    w.attackers = Math.max(w.attackers, attackers);
    w.shed += shed;
    w.served += served;
    w.p50 += p50 * 1000 * served;
    w.p95 += p95 * 1000 * served;
    w.p99 += p99 * 1000 * served;
    w.max = Math.max(w.max, p99 * 1000);
    w.inFlight = capacity > 0 ? Math.min(servers, lambda / mu) : 0;
    w.queueDepth = queueLength;
    w.clients = clients;
    this.total.requests += requests + refused;
    this.total.shed += shed;
    this.total.status['2xx'] += served;
    this.total.status['4xx'] += refused;
    this.total.status['5xx'] += shed;
    this.last = { requests, shed, busy, p95Ms: p95 * 1000 };
    return this.last;
  }

  /** Whether the load balancer sends traffic here. */
  isReady(): boolean {
    return this.ready && !this.draining;
  }

  setReady(ready: boolean): void {
    this.ready = ready;
  }

  /** Requests waiting behind the backlog (overload), for tests and the drain time. */
  backlogRequests(): number {
    return this.backlog;
  }

  sample(): ProxySample {
    const w = this.window;
    this.window = emptyWindow();
    const served = w.served || 1;
    const attackRequests = w.perAttacker * w.attackers;
    const perClient = w.clients > 0 ? (w.requests - attackRequests) / w.clients : 0;
    const attackers = Array.from({ length: w.attackers }, (_, i) => ({ address: attackerAddress(i), requests: Math.round(w.perAttacker) }));
    const busiestClients = Array.from({ length: Math.min(TOP_CLIENTS, Math.ceil(w.clients)) }, (_, i) => ({
      address: clientAddress(i),
      requests: Math.round(perClient),
    }));
    const topClients = [...attackers, ...busiestClients]
      .filter((c) => c.requests > 0)
      .sort((a, b) => b.requests - a.requests)
      .slice(0, TOP_CLIENTS);
    return {
      intervalMs: w.ms,
      busy: w.ms > 0 ? w.busyMs / w.ms : 0,
      requests: Math.round(w.requests),
      shed: Math.round(w.shed),
      status: { '1xx': 0, '2xx': Math.round(w.served), '3xx': 0, '4xx': Math.round(w.refused), '5xx': Math.round(w.shed) },
      queueWaitMs: { p50: w.p50 / served, p95: w.p95 / served, p99: w.p99 / served, max: w.max, count: Math.round(w.served) },
      inFlight: w.inFlight,
      queueDepth: w.queueDepth,
      topClients,
      bytesIn: 0,
      bytesOut: 0,
    };
  }

  /** Refuses `address` (403, at no cost) until `untilMs`, by the instance's clock; as the real proxy's denylist. */
  block(address: string, untilMs: number, reason: string): void {
    this.denylist.block(address, untilMs, reason);
  }

  unblock(address: string): boolean {
    return this.denylist.unblock(address);
  }

  blocked(): BlockedClient[] {
    return this.denylist.list();
  }

  totals(): ProxyTotals {
    return { ...this.total, status: { ...this.total.status }, errors: { ...this.total.errors } };
  }

  /**
   * Stops admitting (the balancer sends nothing more); resolves once the in-flight requests and
   * the backlog are done (drainS + backlog / capacity) or at the deadline, by the instance's clock.
   */
  drain(deadlineMs: number): Promise<{ completed: number; abandoned: number }> {
    this.draining = true;
    const capacity = this.spec.servers * this.spec.capacityRps * (1 - this.spin);
    const needMs = this.spec.drainS * 1000 + (capacity > 0 ? (this.backlog / capacity) * 1000 : Infinity);
    const inFlight = Math.round(this.window.inFlight + this.backlog);
    const finished = needMs <= deadlineMs;
    const waitMs = Math.min(needMs, deadlineMs);
    const result = { completed: finished ? inFlight : 0, abandoned: finished ? 0 : inFlight };
    this.backlog = 0;
    if (!this.clock || waitMs <= 0) return Promise.resolve(result);
    return this.clock.sleep(waitMs).then(() => result);
  }
}

interface Window {
  ms: number;
  busyMs: number;
  requests: number;
  shed: number;
  served: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  inFlight: number;
  queueDepth: number;
  clients: number;
  /** Requests refused (blocked attackers). */
  refused: number;
  /** Requests each attacking address sent; how many addresses attacked. */
  perAttacker: number;
  attackers: number;
}

function emptyWindow(): Window {
  return { ms: 0, busyMs: 0, requests: 0, shed: 0, served: 0, p50: 0, p95: 0, p99: 0, max: 0, inFlight: 0, queueDepth: 0, clients: 0, refused: 0, perAttacker: 0, attackers: 0 };
}
