import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

/** The pure part of test/bench/callgrind.mjs (a benchmark helper, plain JavaScript without types). */
interface Callgrind {
  callgrindWrapper(dir: string, simulate: boolean, cacheFlags?: string[]): string[];
  machineCacheFlags(dir?: string, lastLevel?: number): string[];
  eventCounts(text: string): Record<string, number> | undefined;
  simulatedMisses(counts: Record<string, number>): { l1: number; lastLevel: number; branches: number };
  countsPerRequest(counts: Record<string, number>, requests: number): Record<string, number>;
}
const modulePath = '../bench/callgrind.mjs';
const { callgrindWrapper, countsPerRequest, eventCounts, machineCacheFlags, simulatedMisses } = (await import(modulePath)) as Callgrind;

// The head and tail of a dump as callgrind writes it with --cache-sim=yes --branch-sim=yes.
const SIMULATED = [
  '# callgrind format',
  'version: 1',
  'events: Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw Bc Bcm Bi Bim',
  'summary: 716250271 202705290 109519343 32474492 14679940 2330714 12261 37259 8056 90000000 2500000 7000000 400000',
  'fl=(1) ???',
  'fn=(1) 0x0000000000108d70',
  '0 3 1 1',
  'totals: 719188695 205643710 109519347 33661144 15751939 2330714 12273 37259 8056 90100000 2500100 7000000 400000',
].join('\n');

describe('callgrind: what a dump counted', () => {
  it('reads the summary by event name, trailing zeros left out by callgrind counting 0', () => {
    expect(eventCounts('events: Ir\nsummary: 677917678\ntotals: 680154857\n')).toEqual({ Ir: 677917678 });
    expect(eventCounts('events: Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw\nsummary: 274 79 46\ntotals: 679 178 109 25 9 5 16 1\n')).toEqual({
      Ir: 274, Dr: 79, Dw: 46, I1mr: 0, D1mr: 0, D1mw: 0, ILmr: 0, DLmr: 0, DLmw: 0,
    });
  });

  it('waits for a complete file: no counts before its totals line is written', () => {
    expect(eventCounts(SIMULATED.slice(0, SIMULATED.indexOf('totals:')))).toBeUndefined();
    expect(eventCounts('')).toBeUndefined();
    expect(eventCounts(SIMULATED)?.Ir).toBe(716250271);
  });

  it('sums the simulated misses: L1 (instructions and data), last level, mispredicted branches', () => {
    const counts = eventCounts(SIMULATED);
    expect(counts).toBeDefined();
    expect(simulatedMisses(counts!)).toEqual({
      l1: 32474492 + 14679940 + 2330714,
      lastLevel: 12261 + 37259 + 8056,
      branches: 2500000 + 400000,
    });
    // Without the simulation there is nothing to sum.
    expect(simulatedMisses({ Ir: 5 })).toEqual({ l1: 0, lastLevel: 0, branches: 0 });
  });

  it('gives instructions and simulated misses per request', () => {
    expect(countsPerRequest({ Ir: 1000, I1mr: 30, D1mr: 10, ILmr: 4, Bcm: 8, Bim: 2 }, 10)).toEqual({ instructions: 100, l1: 4, lastLevel: 0.4, branches: 1 });
    expect(countsPerRequest({ Ir: 50 }, 5)).toEqual({ instructions: 10, l1: 0, lastLevel: 0, branches: 0 });
  });

  it('asks valgrind for the simulation only when told to', () => {
    expect(callgrindWrapper('/tmp/d', false)).not.toContain('--cache-sim=yes');
    expect(callgrindWrapper('/tmp/d', true)).toEqual(expect.arrayContaining(['--tool=callgrind', '--cache-sim=yes', '--branch-sim=yes', '--callgrind-out-file=/tmp/d/cg.%p']));
  });
});

describe('callgrind: the simulated caches are the ones Linux reports', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  /** A folder laid out as /sys/devices/system/cpu/cpu0/cache, one index<N> per cache. */
  function caches(list: Array<[level: number, type: string, size: string, ways: string, line: string]>): string {
    const dir = mkdtempSync(join(tmpdir(), 'governor-caches-'));
    dirs.push(dir);
    list.forEach(([level, type, size, ways, line], i) => {
      const index = join(dir, `index${i}`);
      mkdirSync(index);
      const files = { level: String(level), type, size, ways_of_associativity: ways, coherency_line_size: line };
      for (const [name, value] of Object.entries(files)) writeFileSync(join(index, name), `${value}\n`);
    });
    return dir;
  }

  /** The caches of the project's VM as Linux reports them. */
  const THIS_VM: Array<[number, string, string, string, string]> = [
    [1, 'Data', '32K', '8', '64'],
    [1, 'Instruction', '32K', '8', '64'],
    [2, 'Unified', '512K', '8', '64'],
    [3, 'Unified', '32768K', '16', '64'],
  ];

  it('gives L1 instruction and data, and the highest unified level as the last level', () => {
    const dir = caches(THIS_VM);
    expect(machineCacheFlags(dir)).toEqual(['--I1=32768,8,64', '--D1=32768,8,64', '--LL=33554432,16,64']);
    expect(callgrindWrapper('/tmp/d', true, machineCacheFlags(dir))).toEqual(expect.arrayContaining(['--cache-sim=yes', '--LL=33554432,16,64']));
  });

  it('simulates the level asked for as the last level, and refuses one the machine does not have', () => {
    const dir = caches(THIS_VM);
    expect(machineCacheFlags(dir, 2)).toEqual(['--I1=32768,8,64', '--D1=32768,8,64', '--LL=524288,8,64']);
    expect(machineCacheFlags(dir, 3)).toEqual(machineCacheFlags(dir));
    expect(() => machineCacheFlags(dir, 4)).toThrow(`no unified level-4 cache in ${dir} to simulate (usable unified levels: 3, 2)`);
    // Level 1 is split into instruction and data caches: not a unified level.
    expect(() => machineCacheFlags(dir, 1)).toThrow('usable unified levels: 3, 2');
    const unreadable = caches([[1, 'Data', '32K', '8', '64'], [2, 'Unified', 'lots', '8', '64']]);
    expect(() => machineCacheFlags(unreadable, 2)).toThrow('usable unified levels: none');
    expect(() => machineCacheFlags('/nonexistent/cache', 2)).toThrow('no unified level-2 cache in /nonexistent/cache');
  });

  it('leaves the geometry to valgrind when the folder is missing, incomplete or unreadable', () => {
    expect(machineCacheFlags('/nonexistent/cache')).toEqual([]);
    expect(machineCacheFlags(caches([[1, 'Data', '32K', '8', '64']]))).toEqual([]);
    expect(machineCacheFlags(caches([[1, 'Data', '32K', '8', '64'], [1, 'Instruction', 'lots', '8', '64'], [2, 'Unified', '1M', '8', '64']]))).toEqual([]);
    const broken = caches([[1, 'Data', '32K', '8', '64']]);
    rmSync(join(broken, 'index0', 'ways_of_associativity'));
    expect(machineCacheFlags(broken)).toEqual([]);
  });
});
