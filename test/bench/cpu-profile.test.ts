import { describe, expect, it } from 'vitest';

/** The pure part of test/bench/cpu-profile.mjs (a benchmark helper, plain JavaScript without types). */
interface CpuProfile {
  categoryOf(dso: string, symbol: string, root: string): string;
  countSamples(reportText: string, root: string): { byCategory: Map<string, number>; bySymbol: Map<string, number> };
  microsPerRequest(samples: number, requests: number): number;
  SAMPLE_HZ: number;
}
const modulePath = '../bench/cpu-profile.mjs';
const { categoryOf, countSamples, microsPerRequest, SAMPLE_HZ } = (await import(modulePath)) as CpuProfile;

const ROOT = '/srv/governor/';

// Lines as `perf report --no-children --sort dso,sym -g none -n -t '|' -q` prints them.
const REPORT = [
  '     9.95%  | 903        |[kernel.kallsyms]  |[k] _raw_spin_unlock_irqrestore',
  '     1.70%  | 150        |node               |[.] Builtins_LoadIC_Megamorphic',
  '     1.36%  | 120        |node               |[.] llhttp__internal_execute',
  '     0.84%  | 75         |[JIT] tid 4242     |[.] JS:*onRequest file:///srv/governor/dist/proxy/server.js:304:14',
  '     0.50%  | 44         |[JIT] tid 4242     |[.] JS:*#C file:///srv/governor/node_modules/lru-cache/dist/esm/node/index.min.js:1:16696',
  '     0.46%  | 40         |[JIT] tid 4242     |[.] RegExp:^[\\^_`a-zA-Z\\-0-9!#$%&\'*+.|~]+$',
  '     0.30%  | 26         |[JIT] tid 4242     |[.] JS:*answerAsOrigin file:///srv/governor/test/bench/proxy.mjs:108:24',
  '     0.20%  | 18         |[JIT] tid 4242     |[.] 0x00007f3a5c0041c0',
  '     0.83%  | 73         |libc.so.6          |[.] __GI___writev',
  '',
  '# Samples: 9K of event cpu-clock',
].join('\n');

describe('cpu-profile: perf report samples by where they fell', () => {
  it('puts each sample in the part of the process its dso and symbol name', () => {
    const { byCategory } = countSamples(REPORT, ROOT);
    expect(Object.fromEntries(byCategory)).toEqual({
      kernel: 903,
      'V8 builtins': 150,
      'C++ node': 120,
      'JS Governor': 75,
      'JS packages': 44,
      'JS Node': 40 + 18,
      'JS benchmark': 26,
      libraries: 73,
    });
  });

  it('keeps symbols whole, "|" included, and merges unnamed code without its address', () => {
    const { bySymbol } = countSamples(REPORT, ROOT);
    expect(bySymbol.get("JIT RegExp:^[\\^_`a-zA-Z\\-0-9!#$%&'*+.|~]+$")).toBe(40);
    expect(bySymbol.get('JIT JS:*onRequest file:///srv/governor/dist/proxy/server.js:304:14')).toBe(75);
    expect(bySymbol.get('[kernel.kallsyms] _raw_spin_unlock_irqrestore')).toBe(903);
    expect(bySymbol.get('JIT ')).toBe(18);
    expect([...bySymbol.values()].reduce((sum, count) => sum + count, 0)).toBe(903 + 150 + 120 + 75 + 44 + 40 + 26 + 18 + 73);
  });

  it('tells Governor code from code of the same name elsewhere', () => {
    expect(categoryOf('[JIT] tid 1', 'JS:*serve file:///other/dist/proxy/cache-layer.js:1:1', ROOT)).toBe('JS Node');
    expect(categoryOf('node', 'node::StreamBase::Writev', ROOT)).toBe('C++ node');
  });

  it('turns samples into microseconds of CPU time per request', () => {
    expect(microsPerRequest(SAMPLE_HZ, 1_000_000)).toBeCloseTo(1, 9); // one second of samples over a million requests
  });
});
