import { copyFile, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runGoverned } from '../../governor/simulator/governed-runner.js';
import { DEFAULT_OBJECTIVE, scoreRun } from '../../governor/simulator/scoring.js';
import { generateTrace } from '../../governor/simulator/traces.js';
import { TEST_GOVERNOR_CONFIG, TEST_RULES_DIR, testSpec } from './fixtures.js';

const governed = { rulesDir: TEST_RULES_DIR, config: TEST_GOVERNOR_CONFIG };
const DEFAULT_RULES_DIR = fileURLToPath(new URL('../../rules/', import.meta.url));

describe('the real governor in the simulator', () => {
  const crowd = generateTrace('flash-crowd', { seed: 5, durationS: 2400, baseRate: 60 });

  it('grows through a flash crowd and shrinks after it, every change journaled with its reason', async () => {
    const run = await runGoverned(testSpec(crowd), governed);
    const scores = scoreRun(run, crowd, DEFAULT_OBJECTIVE);
    expect(run.violations).toEqual([]);
    expect(run.duplicateLaunches).toBe(0);
    const surge = crowd.surge!;
    const before = run.seconds[surge.at - 1].members;
    const during = Math.max(...run.seconds.slice(surge.at, surge.until).map((s) => s.members));
    expect(during).toBeGreaterThanOrEqual(before + 3);
    expect(run.seconds.at(-1)!.members).toBeLessThan(during);
    const launches = run.events.filter((e) => e.kind === 'launch');
    const leaves = run.events.filter((e) => e.kind === 'leave');
    expect(launches.length).toBeGreaterThan(0);
    expect(leaves.length).toBeGreaterThan(0);
    for (const e of launches) expect(e.reason).toMatch(/^launch \d+ as rank \d+: /);
    for (const e of leaves) expect(e.reason).toMatch(/^leave as rank 0: /);
    expect(scores.recoveryS).not.toBeNull();
  });

  it('fires the tasks the same way under node-cron (cron driver) as under the tick driver', async () => {
    const trace = generateTrace('flash-crowd', { seed: 6, durationS: 1500, baseRate: 60 });
    const tick = await runGoverned(testSpec(trace), { ...governed, driver: 'tick' });
    const cron = await runGoverned(testSpec(trace), { ...governed, driver: 'cron' });
    expect(cron.violations).toEqual([]);
    const summary = (r: typeof tick) => r.events.map((e) => `${e.kind}@${Math.round(e.t / 30)}`);
    expect(summary(cron)).toEqual(summary(tick));
  });

  it('replaces launches that never boot, and holds the invariants through API failures, skew and crashes', async () => {
    const spec = testSpec(crowd, { faults: { neverBootRate: 0.4, apiFailureRate: 0.3, maxSkewMs: 5000, crashes: 4, restartS: 5 } });
    const run = await runGoverned(spec, governed);
    expect(run.violations).toEqual([]);
    expect(run.duplicateLaunches).toBe(0);
    expect(run.events.some((e) => e.kind === 'lost')).toBe(true);
    const surge = crowd.surge!;
    expect(Math.max(...run.seconds.slice(surge.at, surge.until).map((s) => s.ready))).toBeGreaterThan(2);
  });

  it('sees a busy-loop instance as busy without traffic', async () => {
    const flat = generateTrace('slow-ramp', { seed: 1, durationS: 900, baseRate: 10 });
    const run = await runGoverned(testSpec(flat, { faults: { busyLoop: { atS: 300, durationS: 400, spin: 0.9 } } }), governed);
    expect(run.seconds[299].busy).toBeLessThan(0.3);
    expect(run.seconds[320].busy).toBeGreaterThan(0.9); // one instance, spinning: the governor cannot tell it from load
    expect(run.events.some((e) => e.kind === 'launch' && e.t > 300)).toBe(true);
  });

  it('answers a denial-of-service burst by blocking its 3 addresses, where the same rules without the DoS file launch', async () => {
    const trace = generateTrace('dos', { seed: 2, durationS: 1200, baseRate: 60 });
    const at = Math.floor(1200 / 3);
    const withoutDos = await mkdtemp(join(tmpdir(), 'governor-rules-no-dos-'));
    try {
      for (const file of await readdir(DEFAULT_RULES_DIR)) {
        if (file.endsWith('.json') && file !== 'denial-of-service.json') await copyFile(join(DEFAULT_RULES_DIR, file), join(withoutDos, file));
      }
      const blocking = await runGoverned(testSpec(trace), { rulesDir: DEFAULT_RULES_DIR });
      const scaling = await runGoverned(testSpec(trace), { rulesDir: withoutDos });
      expect(blocking.violations).toEqual([]);
      const launchesAfter = (r: typeof blocking) => r.events.filter((e) => e.kind === 'launch' && e.t >= at);
      expect(launchesAfter(blocking)).toEqual([]);
      expect(launchesAfter(scaling).length).toBeGreaterThan(0);
      // blocked within seconds: while the 10-minute blocks last, the attack costs the fleet nothing
      const late = blocking.seconds.slice(at + 60, at + 600);
      expect(Math.max(...late.map((s) => s.busy))).toBeLessThan(0.5);
      expect(late.every((s) => s.shed === 0)).toBe(true);
    } finally {
      await rm(withoutDos, { recursive: true, force: true });
    }
  });
});
