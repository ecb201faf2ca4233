import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ConfigInput } from '../../governor/config.js';
import { NO_FAULTS, type FaultSpec, type RunSpec } from '../../governor/simulator/spec.js';
import type { Trace } from '../../governor/simulator/traces.js';

/** Rules with the default rules' shape and 5x shorter windows (test/fixtures/sim-rules). */
export const TEST_RULES_DIR = fileURLToPath(new URL('../fixtures/sim-rules/', import.meta.url));

/** A governor config file with timings shortened like the test rules (its rulesDir is TEST_RULES_DIR). */
export const TEST_CONFIG_FILE = fileURLToPath(new URL('../fixtures/sim-config.json', import.meta.url));

/** TEST_CONFIG_FILE's scaling and shutdown timings: a 30-minute trace shows whole scaling cycles. */
export const TEST_GOVERNOR_CONFIG: ConfigInput = (({ scaling, shutdown }) => ({ scaling, shutdown }))(JSON.parse(readFileSync(TEST_CONFIG_FILE, 'utf8')) as ConfigInput);

/** A run spec over `trace` with the simulator's default model and short boots. */
export function testSpec(trace: Trace, over: Omit<Partial<RunSpec>, 'faults'> & { faults?: Partial<FaultSpec> } = {}): RunSpec {
  return {
    trace,
    instance: { capacityRps: 200, servers: 1, drainS: 5, queueTimeoutS: 10 },
    bootS: { min: 30, max: 60 },
    bounds: { minInstances: 1, maxInstances: 8, targetBusy: 0.5, capacityRps: 200 },
    initialInstances: 1,
    seed: 7,
    ...over,
    faults: { ...NO_FAULTS, ...over.faults },
  };
}
