// Where a process's CPU time goes, from Linux perf's cpu-clock samples: the proxy benchmark's
// --profile. Unlike callgrind's instruction counts, samples weigh each function by the time it
// took, cache misses and all, and they take in every thread and the kernel's work for the
// process. Node processes must run with --perf-basic-prof for JavaScript functions to have names.
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/** Samples per second of CPU time (odd, so that it does not beat with the kernel's timer). */
export const SAMPLE_HZ = 2999;

/** How long perf is given to attach before the measured work starts. */
const ATTACH_MS = 300;

/**
 * Records cpu-clock samples of processes `pids` (all their threads) into the file `file` while
 * `during` runs, and returns what `during` resolved to. Throws when perf fails to start.
 */
export async function recordWhile(pids, file, during) {
  const perf = spawn('perf', ['record', '-q', '-e', 'cpu-clock', '-F', String(SAMPLE_HZ), '-p', pids.join(','), '-o', file], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  perf.stderr.on('data', (chunk) => (stderr += chunk));
  const exited = once(perf, 'exit');
  await sleep(ATTACH_MS);
  if (perf.exitCode !== null) throw new Error(`perf record failed: ${stderr.trim()}`);
  try {
    return await during();
  } finally {
    perf.kill('SIGINT');
    await exited;
  }
}

/**
 * The part of the process a sample fell in, from perf's dso and symbol: the kernel; JavaScript
 * compiled by V8 (symbols of --perf-basic-prof), split into the code under `root`'s dist/
 * (Governor), installed packages, the benchmark's own handlers and Node's; V8's builtins and the
 * rest of the node binary (C++: Node, V8, libuv, llhttp); shared libraries.
 */
export function categoryOf(dso, symbol, root) {
  if (dso.startsWith('[kernel')) return 'kernel';
  if (dso.startsWith('[JIT]') || dso.startsWith('perf-')) {
    if (symbol.includes(`${root}dist/`)) return 'JS Governor';
    if (symbol.includes('/node_modules/')) return 'JS packages';
    if (symbol.includes(`${root}test/`)) return 'JS benchmark';
    return 'JS Node';
  }
  if (dso === 'node') return symbol.startsWith('Builtins_') ? 'V8 builtins' : 'C++ node';
  return 'libraries';
}

export const CATEGORIES = ['kernel', 'C++ node', 'V8 builtins', 'JS Node', 'JS Governor', 'JS packages', 'JS benchmark', 'libraries'];

/** The samples of the perf.data file `file`, counted by countSamples. */
export function samplesOf(file, root) {
  const report = spawnSync('perf', ['report', '-i', file, '--no-children', '--sort', 'dso,sym', '-g', 'none', '-n', '-t', '|', '-q'], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  if (report.status !== 0) throw new Error(`perf report -i ${file} failed: ${report.stderr.trim()}`);
  return countSamples(report.stdout, root);
}

/**
 * Sample counts from the text of `perf report --sort dso,sym -n -t '|'`, whose lines read
 * "  12.34%|  567|node|[.] Builtins_LoadIC" (a symbol may itself contain '|'): { byCategory,
 * bySymbol }, Maps of counts, symbols keyed as "dso symbol" without the addresses perf prints for
 * unnamed code. Lines of another shape (headers, blank lines) are skipped.
 */
export function countSamples(reportText, root) {
  const byCategory = new Map();
  const bySymbol = new Map();
  for (const line of reportText.split('\n')) {
    const fields = line.split('|');
    if (fields.length < 4 || !/^\d+$/.test(fields[1].trim())) continue;
    const count = Number(fields[1]);
    const dso = fields[2].trim();
    const symbol = fields.slice(3).join('|').trim().replace(/^\[[.k]\] /, '').replace(/0x[0-9a-f]+/g, '');
    const category = categoryOf(dso, symbol, root);
    byCategory.set(category, (byCategory.get(category) ?? 0) + count);
    const key = `${dso.startsWith('[JIT]') ? 'JIT' : dso} ${symbol}`;
    bySymbol.set(key, (bySymbol.get(key) ?? 0) + count);
  }
  return { byCategory, bySymbol };
}

/** Microseconds of CPU time per request that `samples` samples over `requests` requests stand for. */
export const microsPerRequest = (samples, requests) => (samples * 1e6) / SAMPLE_HZ / requests;

/** Removes the symbol maps that --perf-basic-prof wrote for processes `pids` (/tmp/perf-<pid>.map). */
export function removeSymbolMaps(pids) {
  for (const pid of pids) rmSync(`/tmp/perf-${pid}.map`, { force: true });
}
