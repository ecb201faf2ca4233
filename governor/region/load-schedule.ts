/**
 * The rate plan of a load run, as pure functions of elapsed time. Both shapes climb from
 * `fromRate` (the rate at t = 0) to `rate` over `durationSec`:
 * - ramp: the rate rises linearly;
 * - steps: `steps` equal plateaus, plateau k (0-based) holding fromRate + (rate - fromRate) x (k + 1) / steps,
 *   i.e. the ramp's value at the plateau's end (one step = a constant `rate`).
 */
export interface RatePlan {
  mode: 'steps' | 'ramp';
  /** Requests per second at the end of the run. */
  rate: number;
  fromRate: number;
  durationSec: number;
  steps: number;
}

function stepLevel(plan: RatePlan, k: number): number {
  return plan.fromRate + ((plan.rate - plan.fromRate) * (k + 1)) / plan.steps;
}

/** Requests per second the plan asks for at `t` seconds (clamped to the run). */
export function rateAt(plan: RatePlan, t: number): number {
  const time = Math.min(Math.max(t, 0), plan.durationSec);
  if (plan.mode === 'ramp') return plan.fromRate + ((plan.rate - plan.fromRate) * time) / plan.durationSec;
  const stepSec = plan.durationSec / plan.steps;
  return stepLevel(plan, Math.min(Math.floor(time / stepSec), plan.steps - 1));
}

/** Requests the plan has scheduled from the start up to `t` seconds (clamped to the run); not rounded. */
export function plannedBy(plan: RatePlan, t: number): number {
  const time = Math.min(Math.max(t, 0), plan.durationSec);
  if (plan.mode === 'ramp') {
    return plan.fromRate * time + ((plan.rate - plan.fromRate) * time * time) / (2 * plan.durationSec);
  }
  const stepSec = plan.durationSec / plan.steps;
  let total = 0;
  for (let k = 0; k < plan.steps && k * stepSec < time; k++) {
    total += stepLevel(plan, k) * (Math.min(time, (k + 1) * stepSec) - k * stepSec);
  }
  return total;
}
