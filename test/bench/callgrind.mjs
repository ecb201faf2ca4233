// Valgrind's callgrind, driven from outside: the proxy benchmark's --instructions. It counts what
// a process executes (and, with --simulate-cpu, how its simulated caches and branch predictor
// fare), a figure the machine's noise does not move; it leaves out the kernel's work.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

/**
 * The valgrind command line that runs a process under callgrind, its files in `dir` (one per
 * thread); with `simulate`, callgrind also simulates the CPU's caches (`cacheFlags`, from
 * machineCacheFlags) and branch predictor.
 */
export function callgrindWrapper(dir, simulate, cacheFlags = machineCacheFlags()) {
  return [
    'valgrind',
    '-q',
    '--tool=callgrind',
    ...(simulate ? ['--cache-sim=yes', '--branch-sim=yes', ...cacheFlags] : []),
    '--smc-check=all-non-file',
    '--separate-threads=yes',
    `--callgrind-out-file=${dir}/cg.%p`,
  ];
}

/** callgrind_control with `args`; throws when it fails. */
export function callgrindControl(...commandArgs) {
  const result = spawnSync('callgrind_control', commandArgs, { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`callgrind_control ${commandArgs.join(' ')} failed: ${result.stderr || result.stdout}`);
}

/**
 * Dumps the counters of the callgrind process `pid` writing to `dir`, and returns the events its
 * event-loop thread counted since they were last zeroed (eventCounts), the name of the new file
 * they are in (cg.<pid>.<dump>-<thread>, thread 01) and its text, once that file is complete.
 */
export function callgrindDump(pid, dir) {
  const before = new Set(readdirSync(dir));
  callgrindControl('-d', String(pid));
  const deadline = Date.now() + 30_000;
  for (;;) {
    const file = readdirSync(dir).find((name) => !before.has(name) && name.startsWith(`cg.${pid}.`) && name.endsWith('-01'));
    const text = file === undefined ? '' : readFileSync(join(dir, file), 'utf8');
    const counts = eventCounts(text);
    if (counts !== undefined) return { counts, file, text };
    if (Date.now() > deadline) throw new Error(`callgrind wrote no dump for process ${pid} in ${dir}`);
    spawnSync('sleep', ['0.2']);
  }
}

/**
 * The totals of a callgrind file's text by event name (`Ir` instructions; with the cache
 * simulation `I1mr D1mr D1mw` L1 and `ILmr DLmr DLmw` last-level misses; with the branch
 * simulation `Bcm Bim` mispredicted conditional and indirect branches), from its `events:` and
 * `summary:` lines; callgrind leaves out trailing zeros, which count 0. Undefined until the file
 * is complete (its last line, `totals:`, written).
 */
export function eventCounts(text) {
  const events = eventNames(text);
  const summary = /^summary: (.+)$/m.exec(text);
  if (events.length === 0 || summary === null || !/^totals: /m.test(text)) return undefined;
  const values = summary[1].trim().split(/\s+/).map(Number);
  return Object.fromEntries(events.map((name, i) => [name, values[i] ?? 0]));
}

/** The event names of a callgrind file's text, in the order its counts list them (its `events:` line); empty without one. */
export function eventNames(text) {
  return /^events: (.+)$/m.exec(text)?.[1].trim().split(/\s+/) ?? [];
}

/** What the simulation found, summed from eventCounts: L1 misses, last-level misses, mispredicted branches. */
export function simulatedMisses(counts) {
  const sum = (...names) => names.reduce((total, name) => total + (counts[name] ?? 0), 0);
  return { l1: sum('I1mr', 'D1mr', 'D1mw'), lastLevel: sum('ILmr', 'DLmr', 'DLmw'), branches: sum('Bcm', 'Bim') };
}

/** The instructions and simulatedMisses of `counts` (by event name) per request, over `requests` requests. */
export function countsPerRequest(counts, requests) {
  return Object.fromEntries(Object.entries({ instructions: counts.Ir ?? 0, ...simulatedMisses(counts) }).map(([kind, total]) => [kind, total / requests]));
}

/** Where Linux describes the first CPU's caches: index<N>/{level,type,size,ways_of_associativity,coherency_line_size}. */
const CPU_CACHES = '/sys/devices/system/cpu/cpu0/cache';

/**
 * Callgrind's cache geometry flags (`--I1=size,ways,line`, `--D1=...`, `--LL=...`) for the
 * caches Linux reports in `dir`: L1 instruction and data, and as callgrind's last level the
 * unified cache of level `lastLevel`, by default the highest (callgrind simulates two levels;
 * `lastLevel` 2 counts the misses of an L2 that the default lumps in with its hits). Valgrind's
 * own detection reads the CPU's cpuid, which a VM may report wrongly (on this project's VM: a 256
 * MiB direct-mapped last level, where Linux reports 32 MiB 16-way). Empty, leaving the detection
 * to valgrind, when `dir` is missing or incomplete and no `lastLevel` is asked for; an Error when
 * one is asked for and `dir` does not describe a unified cache of that level.
 */
export function machineCacheFlags(dir = CPU_CACHES, lastLevel = undefined) {
  const caches = readCaches(dir);
  const unified = (caches ?? []).filter((cache) => cache.type === 'Unified').sort((a, b) => b.level - a.level);
  const last = lastLevel === undefined ? unified[0] : unified.find((cache) => cache.level === lastLevel);
  if (lastLevel !== undefined && (last === undefined || !usable(last))) {
    const levels = unified.filter(usable).map((cache) => cache.level);
    throw new Error(`no unified level-${lastLevel} cache in ${dir} to simulate (usable unified levels: ${levels.join(', ') || 'none'})`);
  }
  const l1 = (type) => caches?.find((cache) => cache.level === 1 && cache.type === type);
  const chosen = [['I1', l1('Instruction')], ['D1', l1('Data')], ['LL', last]];
  if (chosen.some(([, cache]) => cache === undefined || !usable(cache))) return [];
  return chosen.map(([name, cache]) => `--${name}=${cache.geometry.join(',')}`);
}

/** The caches described in `dir` ({ level, type, geometry: [bytes, ways, line bytes] }); undefined when it cannot be read. */
function readCaches(dir) {
  const read = (index, name) => readFileSync(`${dir}/${index}/${name}`, 'utf8').trim();
  try {
    // A missing folder or file throws here, as does an unreadable one.
    return readdirSync(dir)
      .filter((name) => /^index\d+$/.test(name))
      .map((index) => ({
        level: Number(read(index, 'level')),
        type: read(index, 'type'),
        geometry: [bytesOf(read(index, 'size')), Number(read(index, 'ways_of_associativity')), Number(read(index, 'coherency_line_size'))],
      }));
  } catch {
    return undefined;
  }
}

/** Whether every number of a cache's geometry was read (a size Linux wrote as something else is NaN). */
const usable = (cache) => cache.geometry.every((value) => value > 0);

/** Bytes of a size as Linux writes it in sysfs ("32K", "32768K", "1M"). */
function bytesOf(size) {
  const match = /^(\d+)([KMG]?)$/.exec(size);
  return match === null ? NaN : Number(match[1]) * { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[match[2]];
}
