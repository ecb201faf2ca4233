import { GovError } from '../errors.js';
import { runCentral } from './central-runner.js';
import type { RunRecord } from './fleet-model.js';
import { runGoverned, type GovernedOptions } from './governed-runner.js';
import { REFERENCE_POLICIES, oraclePolicy, referencePolicy } from './policies.js';
import { scoreRun, type Objective, type Scores } from './scoring.js';
import { NO_FAULTS, checkRunSpec, type RunSpec } from './spec.js';

export const POLICY_CHOICES = ['governor', ...REFERENCE_POLICIES, 'all'] as const;
export type PolicyChoice = (typeof POLICY_CHOICES)[number];

export interface SimulationInput {
  spec: RunSpec;
  policy: PolicyChoice;
  governed: GovernedOptions;
  objective: Objective;
  /** Called when a policy's run starts and as it progresses (fraction of that run). */
  onProgress?: (policy: string, fraction: number) => void;
  /** Wall-clock milliseconds (performance.now by default): the speed report only. */
  wallClock?: () => number;
}

export interface SimulationResult {
  /** Every run in order; the oracle's last. */
  runs: RunRecord[];
  scores: Scores[];
  /** Wall-clock seconds each policy's run took. */
  wallS: Record<string, number>;
}

/** The policies a choice runs, governor first. */
export function policiesOf(choice: PolicyChoice): string[] {
  if (!POLICY_CHOICES.includes(choice)) {
    throw new GovError('GOV_ERR_SIM_INVALID', `unknown policy "${choice}": expected one of ${POLICY_CHOICES.join(', ')}`, { policy: choice });
  }
  return choice === 'all' ? ['governor', ...REFERENCE_POLICIES] : [choice];
}

/**
 * Runs the chosen policies, one after the other, on the same trace, model, luck and faults,
 * then the oracle, and scores each against the objective and the oracle's instance-hours.
 */
export async function runSimulation(input: SimulationInput): Promise<SimulationResult> {
  const spec = checkRunSpec(input.spec);
  const wallClock = input.wallClock ?? (() => performance.now());
  const runs: RunRecord[] = [];
  const wallS: Record<string, number> = {};
  for (const name of [...policiesOf(input.policy), 'oracle']) {
    const started = wallClock();
    const withProgress: RunSpec = { ...spec, onProgress: (f) => input.onProgress?.(name, f) };
    input.onProgress?.(name, 0);
    if (name === 'governor') runs.push(await runGoverned(withProgress, input.governed));
    else if (name === 'oracle') runs.push(runCentral(oraclePolicy(spec.trace.rates, spec.bounds), { ...withProgress, faults: NO_FAULTS }, { instant: true }));
    else runs.push(runCentral(referencePolicy(name, spec.bounds), withProgress));
    wallS[name] = (wallClock() - started) / 1000;
  }
  const oracle = runs.at(-1)!;
  const oracleHours = scoreRun(oracle, spec.trace, input.objective).instanceHours;
  const scores = runs.map((run) => scoreRun(run, spec.trace, input.objective, oracleHours));
  return { runs, scores, wallS };
}
