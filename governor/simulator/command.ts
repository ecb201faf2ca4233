import type { SimulateValues } from './cli.js';
import { tuneHeapForSimulation } from './heap.js';
import { TRACE_NAMES } from './traces.js';

/*
 * `governor simulate` as governor/cli.ts's command table lists it: its help is here, its body
 * (./cli.ts, the simulator, @sinonjs/fake-timers) is loaded only when the command runs, so a
 * governor process never loads it.
 */

export const SIMULATE_SUMMARY = 'replay a traffic trace against the real governor (and AWS, Kubernetes, Knative policies) under virtual time';

export const SIMULATE_USAGE = [
  'governor simulate --trace NAME|FILE --out DIR [--rules DIR] [--policy governor|asg|hpa|kpa|all]',
  '    [--instances N] [--seed N] [--config FILE] [--duration S] [--rate R] [--min N] [--max N] [--target F]',
  '    [--capacity RPS] [--servers C] [--boot S|MIN..MAX] [--drain S]',
  '    [--api-failures F] [--never-boot F] [--busy-loop AT[:DURATION[:SPIN]]] [--skew MS] [--crashes N]',
  '    [--slo-busy F] [--slo-p95 MS] [--driver tick|cron]',
  `  traces: ${TRACE_NAMES.join(', ')}, or a CSV file of time,rate[,clients]`,
].join('\n');

/** node:util parseArgs options of `governor simulate`. */
export const SIMULATE_OPTIONS = {
  trace: { type: 'string' },
  out: { type: 'string' },
  rules: { type: 'string' },
  policy: { type: 'string' },
  instances: { type: 'string' },
  seed: { type: 'string' },
  config: { type: 'string', short: 'c' },
  duration: { type: 'string' },
  rate: { type: 'string' },
  min: { type: 'string' },
  max: { type: 'string' },
  target: { type: 'string' },
  capacity: { type: 'string' },
  servers: { type: 'string' },
  boot: { type: 'string' },
  drain: { type: 'string' },
  'api-failures': { type: 'string' },
  'never-boot': { type: 'string' },
  'busy-loop': { type: 'string' },
  skew: { type: 'string' },
  crashes: { type: 'string' },
  'slo-busy': { type: 'string' },
  'slo-p95': { type: 'string' },
  driver: { type: 'string' },
} as const;

/** The command record for governor/cli.ts's table (its `run` writes to stdout). */
export const simulateCommand = {
  summary: SIMULATE_SUMMARY,
  usage: SIMULATE_USAGE,
  options: SIMULATE_OPTIONS,
  run: async (values: SimulateValues) => {
    tuneHeapForSimulation(); // this process exists to simulate
    const { runSimulateCommand } = await import('./cli.js');
    return runSimulateCommand(values, process.stdout);
  },
};
