import { describe, expect, it } from 'vitest';

/** test/bench/callgrind-categories.mjs (a benchmark helper, plain JavaScript without types). */
interface CallgrindCategories {
  selfCosts(text: string): Map<string, number[]>;
  jitSymbols(mapText: string): (address: number) => string | undefined;
  countsByCategory(text: string, symbolAt: (address: number) => string | undefined, root: string): Map<string, Record<string, number>>;
  UNNAMED_JIT: string;
}
const modulePath = '../bench/callgrind-categories.mjs';
const { countsByCategory, jitSymbols, selfCosts, UNNAMED_JIT } = (await import(modulePath)) as CallgrindCategories;

// A dump as callgrind writes it (names compressed, a call in progress at the dump, relative
// positions, trailing zeros left out): main calls Builtins_LoadIC and JIT code at two addresses.
const DUMP = [
  '# callgrind format',
  'version: 1',
  'positions: line',
  'events: Ir I1mr ILmr',
  'summary: 1000 40 6',
  'ob=(1) /usr/bin/node',
  'fl=(1) ???',
  'fn=(1) main',
  '0 100 5 1',
  'cfn=(2) Builtins_LoadIC',
  'calls=3 0',
  '0 300 12 2',
  'ob=(2) ???',
  'cob=(2)',
  'cfn=(3) 0x0000000000001000',
  'calls=1 0',
  '0 9999 999 99',
  '',
  'ob=(1)',
  'fn=(2)',
  '0 200 10 1',
  '+2 100 2',
  'ob=(2)',
  'fn=(3)',
  '0 250 8 2',
  'fn=(4) 0x0000000000002010',
  '* 150 3',
  'ob=(3) /usr/lib/x86_64-linux-gnu/libc.so.6',
  'fn=(5) memcpy',
  '0 200 2',
  'totals: 1000 40 6',
].join('\n');

const PERF_MAP = ['1000 100 JS:*onRequest file:///srv/gov/dist/proxy/server.js:304:14', '2000 80 JS:*ServerResponse node:_http_server:195:24', 'zzz not a line'].join('\n');

describe('callgrind-categories: each function its own counts', () => {
  it('sums the cost lines under each function, resolving compressed names, leaving out the inclusive cost of calls', () => {
    const costs = selfCosts(DUMP);
    expect(Object.fromEntries(costs)).toEqual({
      '/usr/bin/node\tmain': [100, 5, 1],
      '/usr/bin/node\tBuiltins_LoadIC': [300, 12, 1],
      '???\t0x0000000000001000': [250, 8, 2],
      '???\t0x0000000000002010': [150, 3],
      '/usr/lib/x86_64-linux-gnu/libc.so.6\tmemcpy': [200, 2],
    });
    const total = [...costs.values()].reduce((sum, counts) => sum + counts[0], 0);
    expect(total).toBe(1000);
  });

  it("names JIT code from V8's symbol map, the entry written last winning where code space was reused", () => {
    const symbolAt = jitSymbols(`${PERF_MAP}\n1000 10 JS:*later node:events:1:1`);
    expect(symbolAt(0x1005)).toBe('JS:*later node:events:1:1');
    expect(symbolAt(0x1050)).toContain('onRequest');
    expect(symbolAt(0x2010)).toContain('ServerResponse');
    expect(symbolAt(0x2080)).toBeUndefined(); // one past the entry's end
    expect(symbolAt(0x500)).toBeUndefined();
  });
});

describe('callgrind-categories: counts by where they fall', () => {
  it('splits the node binary into builtins and C++, JIT code into Governor and Node, the rest libraries', () => {
    const byCategory = countsByCategory(DUMP, jitSymbols(PERF_MAP), '/srv/gov/');
    expect(Object.fromEntries(byCategory)).toEqual({
      'C++ node': { Ir: 100, I1mr: 5, ILmr: 1 },
      'V8 builtins': { Ir: 300, I1mr: 12, ILmr: 1 },
      'JS Governor': { Ir: 250, I1mr: 8, ILmr: 2 },
      'JS Node': { Ir: 150, I1mr: 3, ILmr: 0 },
      libraries: { Ir: 200, I1mr: 2, ILmr: 0 },
    });
  });

  it('keeps JIT code the map does not name apart rather than guessing whose it is', () => {
    const byCategory = countsByCategory(DUMP, () => undefined, '/srv/gov/');
    expect(byCategory.get(UNNAMED_JIT)).toEqual({ Ir: 400, I1mr: 11, ILmr: 2 });
    expect(byCategory.has('JS Node')).toBe(false);
  });
});
