import { resolve } from 'node:path';
import { numberFlag, usageError, type FlagValues } from '../cli-flags.js';
import { defaultConfig, loadConfig } from '../config.js';
import { writeOutputs } from './output.js';
import { progressBar, type SimOutput } from './progress.js';
import { POLICY_CHOICES, runSimulation, type PolicyChoice } from './run.js';
import { DEFAULT_OBJECTIVE, formatScoreTable } from './scoring.js';
import { NO_FAULTS, type FaultSpec, type RunSpec } from './spec.js';
import { resolveTrace } from './traces.js';

export type SimulateValues = FlagValues;

/** `--boot 90` or `--boot 60..120`. */
function bootFlag(raw: string | boolean | undefined): RunSpec['bootS'] {
  if (raw === undefined) return { min: 60, max: 120 };
  const match = typeof raw === 'string' ? /^(\d+(?:\.\d+)?)(?:\.\.(\d+(?:\.\d+)?))?$/.exec(raw.trim()) : null;
  if (!match) throw usageError(`--boot must be seconds or MIN..MAX seconds, got ${JSON.stringify(raw)}`);
  const min = Number(match[1]);
  const max = match[2] === undefined ? min : Number(match[2]);
  if (max < min) throw usageError(`--boot ${raw}: MIN must not exceed MAX`);
  return { min, max };
}

/** `--busy-loop AT[:DURATION[:SPIN]]`: seconds from the start, seconds (default 1800), fraction (default 0.9). */
function busyLoopFlag(raw: string | boolean | undefined): FaultSpec['busyLoop'] {
  if (raw === undefined) return undefined;
  const parts = typeof raw === 'string' ? raw.split(':').map(Number) : [NaN];
  const [atS, durationS = 1800, spin = 0.9] = parts;
  if (parts.length > 3 || !(atS >= 0) || !(durationS > 0) || !(spin >= 0 && spin <= 1)) {
    throw usageError(`--busy-loop must be AT[:DURATION[:SPIN]] (seconds, seconds, 0..1), got ${JSON.stringify(raw)}`);
  }
  return { atS, durationS, spin };
}

/**
 * `governor simulate`: parses the flags (GOV_ERR_CLI_USAGE for bad ones), runs the chosen
 * policies and the oracle, writes summary.json, run.csv, events.csv and chart.svg to --out,
 * draws a progress bar on a TTY and prints the score table. Resolves with the exit code:
 * 0, or 1 when an invariant was violated (listed).
 */
export async function runSimulateCommand(values: SimulateValues, out: SimOutput): Promise<number> {
  if (typeof values.trace !== 'string') throw usageError('--trace NAME|FILE is required');
  if (typeof values.out !== 'string') throw usageError('--out DIR is required');
  const policy = (values.policy ?? 'governor') as PolicyChoice;
  if (!POLICY_CHOICES.includes(policy)) throw usageError(`--policy must be one of ${POLICY_CHOICES.join(', ')}, got ${JSON.stringify(values.policy)}`);
  const driver = values.driver ?? 'tick';
  if (driver !== 'tick' && driver !== 'cron') throw usageError(`--driver must be tick or cron, got ${JSON.stringify(driver)}`);

  const config = typeof values.config === 'string' ? loadConfig({ file: values.config }) : defaultConfig();
  const seed = numberFlag(values, 'seed', 1, { min: 0, integer: true });
  const duration = values.duration === undefined ? undefined : numberFlag(values, 'duration', 0, { min: 60, integer: true });
  const trace = resolveTrace(values.trace, { seed, durationS: duration, baseRate: numberFlag(values, 'rate', 120, { min: 0.001 }) });
  const minInstances = numberFlag(values, 'min', config.scaling.minInstances, { min: 1, integer: true });
  const maxInstances = numberFlag(values, 'max', config.scaling.maxInstances, { min: minInstances, integer: true });
  const capacityRps = numberFlag(values, 'capacity', 200, { min: 0.001 });
  const spec: RunSpec = {
    trace,
    instance: {
      capacityRps,
      servers: numberFlag(values, 'servers', 1, { min: 1, integer: true }),
      drainS: numberFlag(values, 'drain', 5, { min: 0 }),
      queueTimeoutS: config.proxy.queueTimeoutMs / 1000,
    },
    bootS: bootFlag(values.boot),
    bounds: { minInstances, maxInstances, targetBusy: numberFlag(values, 'target', config.scaling.targetBusy, { min: 0.01, max: 1 }), capacityRps },
    initialInstances: numberFlag(values, 'instances', minInstances, { min: minInstances, max: maxInstances, integer: true }),
    faults: {
      ...NO_FAULTS,
      apiFailureRate: numberFlag(values, 'api-failures', 0, { min: 0, max: 1 }),
      neverBootRate: numberFlag(values, 'never-boot', 0, { min: 0, max: 0.99 }),
      busyLoop: busyLoopFlag(values['busy-loop']),
      maxSkewMs: numberFlag(values, 'skew', 0, { min: 0 }),
      crashes: numberFlag(values, 'crashes', 0, { min: 0, integer: true }),
    },
    seed,
  };
  const objective = { busy: numberFlag(values, 'slo-busy', DEFAULT_OBJECTIVE.busy, { min: 0, max: 1 }), p95Ms: numberFlag(values, 'slo-p95', DEFAULT_OBJECTIVE.p95Ms, { min: 0 }) };
  const rulesDir = resolve(typeof values.rules === 'string' ? values.rules : config.rulesDir);

  const bar = progressBar(out);
  const result = await runSimulation({
    spec,
    policy,
    governed: { rulesDir, driver, config },
    objective,
    onProgress: (name, fraction) => bar.update(name, fraction),
  });
  bar.done();

  const files = writeOutputs(values.out, {
    trace: { name: trace.name, description: trace.description, seconds: trace.rates.length },
    parameters: { seed, policy, driver, rulesDir, instance: spec.instance, bootS: spec.bootS, bounds: spec.bounds, initialInstances: spec.initialInstances, faults: spec.faults, objective },
    scores: result.scores,
    runs: result.runs,
    wallS: result.wallS,
    objective,
  });
  const hours = (trace.rates.length / 3600).toFixed(1);
  out.write(`simulated ${hours} h of "${trace.name}" (seed ${seed}); wall time ${Object.entries(result.wallS).map(([p, s]) => `${p} ${s.toFixed(1)} s`).join(', ')}\n`);
  out.write(`${formatScoreTable(result.scores, spec.bounds)}\n`);
  out.write(`wrote ${files.join(', ')}\n`);
  const violations = result.runs.flatMap((r) => r.violations.map((v) => `${r.policy}: ${v}`));
  if (violations.length === 0) return 0;
  out.write(`${violations.length} invariant violation(s):\n${violations.slice(0, 20).map((v) => `  ${v}`).join('\n')}\n`);
  return 1;
}
