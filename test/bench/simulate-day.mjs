// Simulator benchmark: the full-day runs the targets are measured on. Not a test.
//
//   npm run build && node test/bench/simulate-day.mjs [options]   (--help lists them)
//
// 1. diurnal: one day, default rules and config, every policy and the oracle; prints the score
//    table and checks: governor instance-hours <= 1.15 x oracle, fewer minutes over objective
//    than each reference policy, instance-hours <= the best reference's + 5%.
// 2. flash: the flash-crowd trace; checks the governor is back under objective within the
//    longest boot time + 2 minutes of the surge's start.
// 3. dos: the denial-of-service trace; prints the governor's launches after the attack started
//    (the default rules block the attacking addresses instead of scaling for them).
// 4. speed: 20 governors for a simulated day at 1 s steps (min = max = 20 on a flat load);
//    prints the wall time (target: under 60 s).
// Outputs (summary.json, run.csv, events.csv, chart.svg) go to test/artifacts/sim/<run>/.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseBenchArgs, oneOf } from './bench-args.mjs';

const RUNS = ['diurnal', 'flash', 'dos', 'speed'];
const args = parseBenchArgs({
  usage: `Usage: npm run build && node test/bench/simulate-day.mjs [--rules DIR] [--driver tick|cron] [--only ${RUNS.join('|')}] [--out DIR]
  --rules DIR   the rule files (default: the configuration's rulesDir)
  --driver      how the governors' tasks are driven: tick (default) or cron
  --only RUN    one of the runs (default: all)
  --out DIR     where each run's outputs go, one folder a run (default: test/artifacts/sim/)`,
  options: {
    rules: { type: 'string' },
    driver: { type: 'string', default: 'tick' },
    only: { type: 'string' },
    out: { type: 'string', default: fileURLToPath(new URL('../artifacts/sim/', import.meta.url)) },
  },
  checks: { driver: oneOf(['tick', 'cron']), only: oneOf(RUNS) },
});

const dist = new URL('../../dist/governor/', import.meta.url);
const { runSimulateCommand } = await import(new URL('simulator/cli.js', dist).href);
const { runGoverned } = await import(new URL('simulator/governed-runner.js', dist).href);
const { NO_FAULTS } = await import(new URL('simulator/spec.js', dist).href);
const { defaultConfig } = await import(new URL('config.js', dist).href);
const { tuneHeapForSimulation } = await import(new URL('simulator/heap.js', dist).href);
tuneHeapForSimulation(); // as `governor simulate` does

const rulesDir = args.rules ?? defaultConfig().rulesDir;
const BOOT = { min: 60, max: 120 };
const want = (name) => args.only === undefined || args.only === name;
const out = { write: (text) => process.stdout.write(text), isTTY: process.stdout.isTTY };

/** Runs `governor simulate` with `flags` into its own folder `dir` under --out: { code, dir, summary }. */
async function simulate(name, flags) {
  const dir = join(args.out, name);
  const code = await runSimulateCommand({ out: dir, rules: rulesDir, driver: args.driver, boot: `${BOOT.min}..${BOOT.max}`, ...flags }, out);
  return { code, dir, summary: JSON.parse(await readFile(join(dir, 'summary.json'), 'utf8')) };
}

const verdict = (ok) => (ok ? 'MET' : 'MISSED');

if (want('diurnal')) {
  console.log('\n== diurnal day, all policies ==');
  const { summary } = await simulate('diurnal', { trace: 'diurnal', policy: 'all', max: '12' });
  const by = Object.fromEntries(summary.scores.map((s) => [s.policy, s]));
  const gov = by.governor;
  const refs = ['asg', 'hpa', 'kpa'].map((p) => by[p]);
  const bestRefHours = Math.min(...refs.map((r) => r.instanceHours));
  console.log(`target: governor instance-hours <= 1.15 x oracle: ${gov.oracleRatio.toFixed(3)} -> ${verdict(gov.oracleRatio <= 1.15)}`);
  for (const r of refs) {
    const tied = gov.minutesOverObjective === 0 && r.minutesOverObjective === 0 ? ' (tied: neither went over objective)' : '';
    console.log(`target: fewer minutes over objective than ${r.policy}: ${gov.minutesOverObjective} vs ${r.minutesOverObjective} -> ${verdict(gov.minutesOverObjective < r.minutesOverObjective)}${tied}`);
  }
  console.log(`target: instance-hours <= best reference + 5%: ${gov.instanceHours.toFixed(2)} vs ${(bestRefHours * 1.05).toFixed(2)} -> ${verdict(gov.instanceHours <= bestRefHours * 1.05)}`);
}

if (want('flash')) {
  console.log('\n== flash crowd, all policies ==');
  const { summary } = await simulate('flash-crowd', { trace: 'flash-crowd', policy: 'all', max: '16' });
  const gov = summary.scores.find((s) => s.policy === 'governor');
  const limit = BOOT.max + 120;
  console.log(`target: governor back under objective within boot + 2 min (${limit} s): ${gov.recoveryS} s -> ${verdict(gov.recoveryS !== null && gov.recoveryS <= limit)}`);
}

if (want('dos')) {
  console.log('\n== denial of service, all policies ==');
  const { dir, summary } = await simulate('dos', { trace: 'dos', policy: 'all', max: '16' });
  const events = await readFile(join(dir, 'events.csv'), 'utf8');
  const attackAt = Math.floor((2 * 3600) / 3);
  const launches = events.split('\n').filter((line) => line.startsWith('governor,') && line.split(',')[2] === 'launch' && Number(line.split(',')[1]) >= attackAt);
  const gov = summary.scores.find((s) => s.policy === 'governor');
  console.log(`governor: ${launches.length} launch(es) during or after the attack (blocks answer it), ${gov.minutesOverObjective} min over objective`);
}

if (want('speed')) {
  console.log('\n== speed: 20 governors, one simulated day, 1 s steps ==');
  const seconds = 24 * 3600;
  const trace = { name: 'flat', description: 'flat load for 20 instances at target', rates: new Float64Array(seconds).fill(20 * 100) };
  const started = performance.now();
  let lastReport = started;
  const run = await runGoverned(
    {
      trace,
      instance: { capacityRps: 200, servers: 1, drainS: 5, queueTimeoutS: 10 },
      bootS: BOOT,
      bounds: { minInstances: 20, maxInstances: 20, targetBusy: 0.5, capacityRps: 200 },
      initialInstances: 20,
      faults: NO_FAULTS,
      seed: 1,
      onProgress: (f) => {
        if (performance.now() - lastReport > 10_000) {
          lastReport = performance.now();
          console.log(`  ${Math.round(f * 100)}% after ${((lastReport - started) / 1000).toFixed(0)} s`);
        }
      },
    },
    { rulesDir, driver: args.driver },
  );
  const wall = (performance.now() - started) / 1000;
  const governors = run.seconds.reduce((max, s) => Math.max(max, s.members), 0);
  console.log(`${governors} governors, ${seconds} simulated seconds (driver ${args.driver}): ${wall.toFixed(1)} s wall -> ${verdict(wall < 60)} (target < 60 s); violations ${run.violations.length}`);
}
