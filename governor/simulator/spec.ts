import { GovError } from '../errors.js';
import type { InstanceSpec } from './instance-model.js';
import type { PolicyBounds } from './policies.js';
import { seededRng, uniform, type Rng } from './rng.js';
import type { Trace } from './traces.js';

/** Faults a run injects (governed runs get all of them; central policies the model's ones). */
export interface FaultSpec {
  /** Fraction of cloud API calls that fail: half as errors, half as throttles. */
  apiFailureRate: number;
  /** Fraction of launches whose instance never boots (its process dies at boot: the cloud ends it). */
  neverBootRate: number;
  /** One instance's event loop spins without traffic (a busy-loop bug) for a while. */
  busyLoop?: { atS: number; durationS: number; spin: number };
  /** Each governor's clock is off by a uniform draw in [-maxSkewMs, maxSkewMs] (governed runs). */
  maxSkewMs: number;
  /** Governor crashes at random times (governed runs): stopped, restarted with an empty blackboard. */
  crashes: number;
  /** Seconds a crashed governor stays down. */
  restartS: number;
}

export const NO_FAULTS: FaultSpec = { apiFailureRate: 0, neverBootRate: 0, maxSkewMs: 0, crashes: 0, restartS: 5 };

/** What a simulation run needs besides its policy. */
export interface RunSpec {
  trace: Trace;
  instance: InstanceSpec;
  /** Boot time of a launched instance, drawn uniformly from [min, max] seconds (equal: fixed). */
  bootS: { min: number; max: number };
  bounds: PolicyBounds;
  /** Serving instances at the start. */
  initialInstances: number;
  faults: FaultSpec;
  seed: number;
  /** Called with the fraction done (0..1), at most about once a simulated minute. */
  onProgress?: (fraction: number) => void;
}

function invalid(what: string, value: unknown, expected: string): GovError {
  return new GovError('GOV_ERR_SIM_INVALID', `${what} must be ${expected}; got ${JSON.stringify(value)}`, { what, value, expected });
}

const fraction = (x: number) => Number.isFinite(x) && x >= 0 && x <= 1;

/** Throws GOV_ERR_SIM_INVALID naming the first parameter out of range. */
export function checkRunSpec(spec: RunSpec): RunSpec {
  const { instance, bootS, bounds, faults } = spec;
  if (spec.trace.rates.length < 1) throw invalid('trace length', spec.trace.rates.length, 'at least 1 second');
  if (!(instance.capacityRps > 0)) throw invalid('capacityRps', instance.capacityRps, 'above 0');
  if (!Number.isInteger(instance.servers) || instance.servers < 1) throw invalid('servers', instance.servers, 'an integer >= 1');
  if (!(instance.drainS >= 0)) throw invalid('drainS', instance.drainS, '>= 0');
  if (!(instance.queueTimeoutS > 0)) throw invalid('queueTimeoutS', instance.queueTimeoutS, 'above 0');
  if (!(bootS.min >= 0 && bootS.max >= bootS.min)) throw invalid('boot time', bootS, '0 <= min <= max seconds');
  if (!Number.isInteger(bounds.minInstances) || bounds.minInstances < 1) throw invalid('minInstances', bounds.minInstances, 'an integer >= 1');
  if (!Number.isInteger(bounds.maxInstances) || bounds.maxInstances < bounds.minInstances) {
    throw invalid('maxInstances', bounds.maxInstances, `an integer >= minInstances (${bounds.minInstances})`);
  }
  if (!(bounds.targetBusy > 0 && bounds.targetBusy <= 1)) throw invalid('targetBusy', bounds.targetBusy, 'within (0, 1]');
  if (!Number.isInteger(spec.initialInstances) || spec.initialInstances < bounds.minInstances || spec.initialInstances > bounds.maxInstances) {
    throw invalid('initial instances', spec.initialInstances, `an integer within [${bounds.minInstances}, ${bounds.maxInstances}]`);
  }
  if (!fraction(faults.apiFailureRate)) throw invalid('apiFailureRate', faults.apiFailureRate, 'within [0, 1]');
  if (!fraction(faults.neverBootRate)) throw invalid('neverBootRate', faults.neverBootRate, 'within [0, 1)');
  if (faults.neverBootRate >= 1) throw invalid('neverBootRate', faults.neverBootRate, 'below 1 (some launch must boot)');
  if (!(faults.maxSkewMs >= 0)) throw invalid('maxSkewMs', faults.maxSkewMs, '>= 0');
  if (!Number.isInteger(faults.crashes) || faults.crashes < 0) throw invalid('crashes', faults.crashes, 'an integer >= 0');
  if (!(faults.restartS >= 0)) throw invalid('restartS', faults.restartS, '>= 0');
  const loop = faults.busyLoop;
  if (loop && !(loop.atS >= 0 && loop.durationS > 0 && fraction(loop.spin))) throw invalid('busyLoop', loop, '{atS >= 0, durationS > 0, spin in [0, 1]}');
  return spec;
}

/**
 * The k-th launch of a run boots after the same time and fails to boot alike whatever the
 * policy, so policies meet the same luck (a stream of its own, apart from other draws).
 */
export class LaunchLuck {
  private readonly rng: Rng;
  constructor(private readonly spec: Pick<RunSpec, 'seed' | 'bootS' | 'faults'>) {
    this.rng = seededRng(spec.seed ^ 0x5bd1e995);
  }
  next(): { bootS: number; neverBoots: boolean } {
    const bootS = Math.round(uniform(this.rng, this.spec.bootS.min, this.spec.bootS.max));
    return { bootS, neverBoots: this.rng() < this.spec.faults.neverBootRate };
  }
}
