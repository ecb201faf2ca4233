import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isGovError } from '../../governor/errors.js';
import { runSimulateCommand, type SimulateValues } from '../../governor/simulator/cli.js';
import { TEST_CONFIG_FILE } from './fixtures.js';

class Capture {
  text = '';
  constructor(readonly isTTY: boolean) {}
  write(chunk: string) {
    this.text += chunk;
    return true;
  }
}

describe('governor simulate (runSimulateCommand)', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'governor-simulate-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('replays a CSV trace with every policy: summary, CSV, chart with a panel each, progress bar and score table', async () => {
    const trace = join(dir, 'ops.csv');
    await writeFile(trace, 'time,rate,clients\n0,60,500\n599,60,500\n660,700,500\n1500,700,500\n1560,60,500\n1799,60,500\n');
    const out = new Capture(true);
    const values: SimulateValues = { trace, out: join(dir, 'out'), policy: 'all', config: TEST_CONFIG_FILE, boot: '30..60', seed: '3' };
    expect(await runSimulateCommand(values, out)).toBe(0);

    const summary = JSON.parse(await readFile(join(dir, 'out', 'summary.json'), 'utf8'));
    expect(summary.scores.map((s: { policy: string }) => s.policy)).toEqual(['governor', 'asg', 'hpa', 'kpa', 'oracle']);
    expect(summary.trace.seconds).toBe(1800);
    expect(summary.parameters.bootS).toEqual({ min: 30, max: 60 });
    const csv = (await readFile(join(dir, 'out', 'run.csv'), 'utf8')).trim().split('\n');
    expect(csv[0]).toBe('policy,t,rate,members,ready,busy,p95_ms,shed');
    expect(csv.length).toBe(1 + 5 * 1800);
    const events = await readFile(join(dir, 'out', 'events.csv'), 'utf8');
    expect(events).toMatch(/^governor,\d+,launch,i-/m);
    const svg = await readFile(join(dir, 'out', 'chart.svg'), 'utf8');
    expect(svg.match(/font-weight="bold">(\w+)</g)).toHaveLength(5);
    expect(out.text).toContain('\r[');
    expect(out.text).toMatch(/\| governor +\| \d+\.\d\d +\| \d\.\d{3} +\|/);
    expect(out.text).toContain('| oracle ');
  }, 60_000);

  it('draws no progress bar when the output is not a terminal', async () => {
    const out = new Capture(false);
    const values: SimulateValues = { trace: 'dos', duration: '600', out: join(dir, 'dos'), policy: 'kpa', config: TEST_CONFIG_FILE };
    expect(await runSimulateCommand(values, out)).toBe(0);
    expect(out.text).not.toContain('\r');
    expect(out.text).toContain('| kpa ');
  });

  it.each([
    [{ out: 'x' }, '--trace NAME|FILE is required'],
    [{ trace: 'diurnal' }, '--out DIR is required'],
    [{ trace: 'diurnal', out: 'x', policy: 'lambda' }, '--policy must be one of governor, asg, hpa, kpa, all'],
    [{ trace: 'diurnal', out: 'x', boot: '90..60' }, '--boot 90..60: MIN must not exceed MAX'],
    [{ trace: 'diurnal', out: 'x', boot: 'soon' }, '--boot must be seconds or MIN..MAX'],
    [{ trace: 'diurnal', out: 'x', min: '4', max: '2' }, '--max must be an integer >= 4'],
    [{ trace: 'diurnal', out: 'x', 'api-failures': '1.5' }, '--api-failures must be a number >= 0 and <= 1'],
    [{ trace: 'diurnal', out: 'x', 'busy-loop': '10:0' }, '--busy-loop must be AT[:DURATION[:SPIN]]'],
    [{ trace: 'diurnal', out: 'x', driver: 'fast' }, '--driver must be tick or cron'],
  ])('refuses bad flags with GOV_ERR_CLI_USAGE: %j', async (values, message) => {
    const err = await runSimulateCommand(values as SimulateValues, new Capture(false)).catch((e: unknown) => e);
    expect(isGovError(err, 'GOV_ERR_CLI_USAGE')).toBe(true);
    expect((err as Error).message).toContain(message);
  });

  it('names an unknown trace', async () => {
    const err = await runSimulateCommand({ trace: join(dir, 'nope.csv'), out: dir }, new Capture(false)).catch((e: unknown) => e);
    expect(isGovError(err, 'GOV_ERR_SIM_TRACE')).toBe(true);
  });
});
