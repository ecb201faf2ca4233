import { describe, expect, it } from 'vitest';
import { runScript } from './run-script.js';

type Check = (value: string) => string | undefined;
interface BenchArgs {
  positiveNumber: Check;
  positiveInteger: Check;
  positiveIntegers: Check;
  oneOf(allowed: string[]): Check;
  someOf(allowed: string[]): Check;
}
const modulePath = '../bench/bench-args.mjs';
const { positiveNumber, positiveInteger, positiveIntegers, oneOf, someOf } = (await import(modulePath)) as BenchArgs;

describe('bench-args: the checks', () => {
  it('take good values and name what a bad one should have been', () => {
    expect(positiveNumber('0.5')).toBeUndefined();
    expect(positiveNumber('0')).toMatch(/above 0/);
    expect(positiveNumber('two')).toMatch(/above 0/);
    expect(positiveInteger('32')).toBeUndefined();
    expect(positiveInteger('1.5')).toMatch(/whole number/);
    expect(positiveInteger('3,4')).toMatch(/whole number/);
    expect(positiveIntegers('1024,102400')).toBeUndefined();
    expect(positiveIntegers('1024,')).toMatch(/separated by commas/);
    expect(positiveIntegers('1k')).toMatch(/separated by commas/);
    expect(oneOf(['tick', 'cron'])('cron')).toBeUndefined();
    expect(oneOf(['tick', 'cron'])('hourly')).toBe('expected one of tick, cron');
    expect(someOf(['a', 'b', 'c'])('c,a')).toBeUndefined();
    expect(someOf(['a', 'b', 'c'])('a,x,y')).toBe('unknown x, y; expected some of a, b, c');
  });
});

describe('bench-args: the benchmark scripts refuse arguments they would misread, before running anything', () => {
  it('proxy.mjs prints its usage for --help', () => {
    const { status, stdout } = runScript('proxy.mjs', ['--help']);
    expect(status).toBe(0);
    expect(stdout).toMatch(/^Usage:/);
    expect(stdout).toContain('Targets: node, node-same-head, gov-hit, gov-miss');
  });

  it.each([
    ['proxy.mjs', ['--roudns', '3'], "Unknown option '--roudns'"],
    ['proxy.mjs', ['--rounds', '0'], '--rounds 0: expected a whole number above 0'],
    ['proxy.mjs', ['--duration', '0.5'], '--duration 0.5: expected a whole number above 0'],
    ['proxy.mjs', ['--warm-up', '0'], '--warm-up 0: expected a whole number above 0'],
    ['proxy.mjs', ['--origin-workers', '0'], '--origin-workers 0: expected a whole number above 0'],
    ['proxy.mjs', ['--sizes', '1k'], '--sizes 1k: expected whole numbers above 0, separated by commas'],
    ['proxy.mjs', ['--targets', 'gov-hit,nginx'], '--targets gov-hit,nginx: unknown nginx; expected some of node, node-same-head, gov-hit'],
    ['proxy.mjs', ['--rounds'], "Option '--rounds <value>' argument missing"],
    ['proxy.mjs', ['--callgrind-out', '/tmp/cg'], '--callgrind-out needs --instructions'],
    ['proxy.mjs', ['--instructions', '--simulate-level', '2'], '--simulate-level needs --simulate-cpu'],
    ['proxy.mjs', ['--by-category'], '--by-category needs --instructions'],
    ['proxy.mjs', ['--instructions', '--simulate-cpu', '--simulate-level', 'two'], '--simulate-level two: expected a whole number above 0'],
    ['proxy.mjs', ['--instructions', '--simulate-cpu', '--simulate-level', '9'], '--simulate-level 9: no unified level-9 cache in /sys/devices/system/cpu/cpu0/cache'],
    ['proxy-servers.mjs', ['--role', 'nginx', '--port', '8080'], '--role nginx: expected one of origin, hp-ka, hp-default, undici-pool, governor'],
    ['proxy-servers.mjs', ['--role', 'origin'], 'missing --port'],
    ['proxy-servers.mjs', ['--role', 'governor', '--port', '8080'], 'missing --origin'],
    ['proxy-servers.mjs', ['--port', '8080'], 'missing --role, --origin'],
    ['proxy-servers.mjs', ['--role', 'origin', '--port', '80.5'], '--port 80.5: expected a whole number above 0'],
    ['runs-summary.mjs', ['--machines', 'A'], "Unknown option '--machines'"],
  ])('%s %j: exit 2 with the problem and the usage, before starting anything', (script, args, problem) => {
    const { status, stderr } = runScript(script, args);
    expect(status).toBe(2);
    expect(stderr).toContain(problem);
    expect(stderr).toContain('Usage:');
  });

  it('simulate-day.mjs refuses an unknown run or driver', () => {
    const only = runScript('simulate-day.mjs', ['--only', 'weekly']);
    expect(only.status).toBe(2);
    expect(only.stderr).toContain('--only weekly: expected one of diurnal, flash, dos, speed');
    const driver = runScript('simulate-day.mjs', ['--driver', 'hourly']);
    expect(driver.status).toBe(2);
    expect(driver.stderr).toContain('--driver hourly: expected one of tick, cron');
    const help = runScript('simulate-day.mjs', ['--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('--only RUN');
  });
});
