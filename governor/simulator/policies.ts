import { GovError } from '../errors.js';

/**
 * Reference policies: what a user would pick instead of Governor, each implemented from its
 * public documentation as a central controller over the same fleet model. Every second a policy
 * observes the fleet; on its own tick it may return a desired fleet size and why. All target
 * the same utilization (`targetBusy`, the governor's scaling.targetBusy) so they compare fairly.
 */

/** One instance as a central controller's metrics pipeline sees it. */
export interface ObservedInstance {
  /** Seconds since its launch. */
  age: number;
  ready: boolean;
  busy: number;
}

export interface Observation {
  /** Seconds from the start. */
  t: number;
  /** Members not leaving (booting + serving): the controller's current capacity. */
  current: number;
  instances: readonly ObservedInstance[];
  /** Requests/s arriving at the load balancer. */
  rate: number;
}

export interface Decision {
  desired: number;
  reason: string;
}

export interface ReferencePolicy {
  readonly name: string;
  /** Called once per simulated second, in order; a decision only on the policy's tick. */
  observe(o: Observation): Decision | undefined;
}

export interface PolicyBounds {
  minInstances: number;
  maxInstances: number;
  /** Target busy fraction (0..1). */
  targetBusy: number;
  /** Requests/s one instance serves at busy 1 (for request-based policies). */
  capacityRps: number;
}

const clamp = (n: number, b: PolicyBounds) => Math.min(b.maxInstances, Math.max(b.minInstances, n));
const mean = (xs: readonly number[]) => (xs.length > 0 ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);
const pct = (x: number) => `${Math.round(x * 100)}%`;

/** AWS EC2 Auto Scaling target tracking on the group's average CPU (here: busy). */
export const ASG_PARAMS = {
  /** CloudWatch metric period (detailed monitoring), seconds. */
  periodS: 60,
  /** Scale out when this many consecutive datapoints are above the target... */
  outDatapoints: 3,
  /** ...scale in when this many consecutive datapoints are below scaleInFactor x target. */
  inDatapoints: 15,
  scaleInFactor: 0.9,
  /** Instance warm-up: a newer instance's metrics are not aggregated, and scale-in waits for it. */
  warmupS: 300,
} as const;

/**
 * AWS target tracking (EC2 Auto Scaling): one datapoint per minute, the mean busy of the
 * in-service instances past their warm-up. Scale out when the last 3 datapoints are above the
 * target: desired = max(current, ceil(counted x metric / target)), counted = instances past
 * warm-up, so warming capacity is not added twice; re-evaluated every minute while the alarm
 * holds. Scale in when the last 15 datapoints are below 90% of the target and no instance is
 * warming: desired = ceil(counted x metric / target).
 */
export function asgPolicy(bounds: PolicyBounds, params = ASG_PARAMS): ReferencePolicy {
  const datapoints: number[] = [];
  let minute: number[] = [];
  return {
    name: 'asg',
    observe(o) {
      const counted = o.instances.filter((i) => i.ready && i.age >= params.warmupS);
      if (counted.length > 0) minute.push(mean(counted.map((i) => i.busy)));
      if ((o.t + 1) % params.periodS !== 0) return undefined;
      if (minute.length > 0) datapoints.push(mean(minute));
      minute = [];
      const last = (n: number) => (datapoints.length >= n ? datapoints.slice(-n) : undefined);
      const metric = datapoints.at(-1);
      if (metric === undefined || counted.length === 0) return undefined;
      const proportional = Math.ceil((counted.length * metric) / bounds.targetBusy - 1e-9);
      const high = last(params.outDatapoints);
      if (high?.every((d) => d > bounds.targetBusy)) {
        const desired = clamp(Math.max(o.current, proportional), bounds);
        return { desired, reason: `AlarmHigh: ${params.outDatapoints} datapoints above ${pct(bounds.targetBusy)} (last ${pct(metric)})` };
      }
      const low = last(params.inDatapoints);
      const warming = o.instances.some((i) => i.age < params.warmupS);
      if (!warming && low?.every((d) => d < params.scaleInFactor * bounds.targetBusy)) {
        const desired = clamp(Math.min(o.current, proportional), bounds);
        return { desired, reason: `AlarmLow: ${params.inDatapoints} datapoints below ${pct(params.scaleInFactor * bounds.targetBusy)} (last ${pct(metric)})` };
      }
      return undefined;
    },
  };
}

/** Kubernetes Horizontal Pod Autoscaler (autoscaling/v2 defaults). */
export const HPA_PARAMS = {
  /** --horizontal-pod-autoscaler-sync-period */
  syncS: 15,
  /** The metric each pod reports: its mean busy over this window (metrics-server resolution). */
  metricWindowS: 15,
  tolerance: 0.1,
  /** behavior.scaleDown.stabilizationWindowSeconds */
  downStabilizationS: 300,
  /** behavior.scaleUp policies: 100% or 4 pods per 15 s, whichever is more. */
  upPercent: 100,
  upPods: 4,
} as const;

/**
 * Kubernetes HPA: every 15 s, ratio = mean busy of the ready pods / target; within the 0.1
 * tolerance nothing changes; else desired = ceil(ready x ratio). For a scale-up, pods not ready
 * yet count as 0% busy (the HPA's conservative rule) and the ratio is recomputed over all of
 * them. Scale-up is limited to max(2 x current, current + 4) per period; scale-down takes the
 * highest recommendation of the last 300 s (stabilization window).
 */
export function hpaPolicy(bounds: PolicyBounds, params = HPA_PARAMS): ReferencePolicy {
  const recommendations: Array<{ t: number; desired: number }> = [];
  let window: number[] = [];
  return {
    name: 'hpa',
    observe(o) {
      const readyBusy = o.instances.filter((i) => i.ready).map((i) => i.busy);
      if (readyBusy.length > 0) window.push(mean(readyBusy));
      if (window.length > params.metricWindowS) window = window.slice(-params.metricWindowS);
      if ((o.t + 1) % params.syncS !== 0) return undefined;
      const ready = readyBusy.length;
      if (ready === 0 || window.length === 0) return undefined;
      const usage = mean(window);
      let ratio = usage / bounds.targetBusy;
      let base = ready;
      if (ratio > 1 && o.current > ready) {
        // not-ready pods count as 0% busy for a scale-up
        ratio = (usage * ready) / (o.current * bounds.targetBusy);
        base = o.current;
      }
      const recommendation = Math.abs(ratio - 1) <= params.tolerance ? o.current : Math.ceil(base * ratio - 1e-9);
      recommendations.push({ t: o.t, desired: recommendation });
      while (recommendations[0].t <= o.t - params.downStabilizationS) recommendations.shift();
      let desired: number;
      if (recommendation > o.current) {
        desired = Math.min(recommendation, Math.max(Math.ceil(o.current * (1 + params.upPercent / 100)), o.current + params.upPods));
      } else {
        desired = Math.min(o.current, Math.max(...recommendations.map((r) => r.desired)));
      }
      desired = clamp(desired, bounds);
      if (desired === o.current) return undefined;
      const limited = desired !== recommendation ? ` (limited to ${desired})` : '';
      return { desired, reason: `busy ${pct(usage)} vs target ${pct(bounds.targetBusy)}: ceil(${base} x ${ratio.toFixed(2)}) = ${recommendation}${limited}` };
    },
  };
}

/** Knative Pod Autoscaler on requests per second (config-autoscaler defaults). */
export const KPA_PARAMS = {
  tickS: 2,
  stableWindowS: 60,
  panicWindowS: 6,
  /** panic-threshold-percentage: panic when the panic window wants 200% of the ready pods. */
  panicThreshold: 2,
  maxScaleUpRate: 1000,
  maxScaleDownRate: 2,
} as const;

/**
 * Knative KPA: every 2 s, desired = ceil(observed rps / (target x capacity)) over the 60 s
 * stable window; the 6 s panic window gives the panic desire. When the panic desire reaches 200%
 * of the ready pods the autoscaler panics: it scales on the panic window and never down, until
 * 60 s pass without a panic trigger. Each tick is bounded by 1000x up and 1/2 down.
 */
export function kpaPolicy(bounds: PolicyBounds, params = KPA_PARAMS): ReferencePolicy {
  const rates: number[] = [];
  let panickingSince: number | undefined;
  let lastTrigger = -Infinity;
  let lastDesired: number | undefined;
  return {
    name: 'kpa',
    observe(o) {
      rates.push(o.rate);
      if (rates.length > params.stableWindowS) rates.shift();
      if ((o.t + 1) % params.tickS !== 0) return undefined;
      const perPod = bounds.targetBusy * bounds.capacityRps;
      const stable = Math.ceil(mean(rates) / perPod - 1e-9);
      const panic = Math.ceil(mean(rates.slice(-params.panicWindowS)) / perPod - 1e-9);
      const ready = Math.max(1, o.instances.filter((i) => i.ready).length);
      if (panic / ready >= params.panicThreshold) {
        lastTrigger = o.t;
        panickingSince ??= o.t;
      } else if (panickingSince !== undefined && o.t - lastTrigger >= params.stableWindowS) {
        panickingSince = undefined;
      }
      let desired = panickingSince !== undefined ? Math.max(panic, lastDesired ?? o.current, o.current) : stable;
      desired = Math.min(desired, Math.ceil(ready * params.maxScaleUpRate));
      desired = Math.max(desired, Math.floor(ready / params.maxScaleDownRate));
      desired = clamp(desired, bounds);
      lastDesired = desired;
      if (desired === o.current) return undefined;
      const mode = panickingSince !== undefined ? `panic (6 s: ${panic})` : `stable (60 s: ${stable})`;
      return { desired, reason: `${mode} at ${Math.round(perPod)} req/s per instance` };
    },
  };
}

/**
 * The oracle: knows the trace; each minute it holds the fewest instances that keep that
 * minute's mean busy (what the objective judges) at or under the target:
 * ceil(mean rate of the minute / (target x capacity)), within [min, max]. It runs with instant
 * boot and leave: the cost floor of tracking the target.
 */
export function oracleCounts(rates: Float64Array, bounds: PolicyBounds): Int32Array {
  const minutes = Math.ceil(rates.length / 60);
  const counts = new Int32Array(minutes);
  const perInstance = bounds.targetBusy * bounds.capacityRps;
  for (let m = 0; m < minutes; m++) {
    const end = Math.min(rates.length, (m + 1) * 60);
    let sum = 0;
    for (let s = m * 60; s < end; s++) sum += rates[s];
    counts[m] = clamp(Math.ceil(sum / (end - m * 60) / perInstance - 1e-9), bounds);
  }
  return counts;
}

export function oraclePolicy(rates: Float64Array, bounds: PolicyBounds): ReferencePolicy {
  const counts = oracleCounts(rates, bounds);
  return {
    name: 'oracle',
    observe(o) {
      // decide at the end of each second for the next one: instant boot makes it ready in time
      const next = counts[Math.floor(Math.min(o.t + 1, rates.length - 1) / 60)];
      return next === o.current ? undefined : { desired: next, reason: `oracle: ${next} keep the next minute under ${pct(bounds.targetBusy)}` };
    },
  };
}

export const REFERENCE_POLICIES = ['asg', 'hpa', 'kpa'] as const;
export type ReferencePolicyName = (typeof REFERENCE_POLICIES)[number];

export function referencePolicy(name: string, bounds: PolicyBounds): ReferencePolicy {
  switch (name) {
    case 'asg':
      return asgPolicy(bounds);
    case 'hpa':
      return hpaPolicy(bounds);
    case 'kpa':
      return kpaPolicy(bounds);
    default:
      throw new GovError('GOV_ERR_SIM_INVALID', `unknown reference policy "${name}": expected ${REFERENCE_POLICIES.join(', ')}`, { name });
  }
}
