// Edge proxy benchmark (issue #6): Governor against Node's ceiling, http-proxy and nginx, side by
// side in one run on 127.0.0.1. Not a test: it prints a table and the ratios the targets are
// stated in. A ratio measured in one run compares fairly on a noisy machine; absolute figures
// depend on the machine and whatever else runs on it.
//
// Usage: USAGE below (`node test/bench/proxy.mjs --help` prints it).
//
// The servers themselves are in proxy-servers.mjs, each started in a process of its own by
// server-processes.mjs.
//
// Targets, each with the same number of worker processes (--workers), all in front of one origin
// (a bare Node server with as many workers, or --origin-workers) answering the same bytes; Governor's processes run
// with the Node flags and malloc settings it ships with (proxy/process-settings.ts), the other
// Node targets (but hp-ka-tuned) with Node's and glibc's defaults:
//   node        a bare Node server answering as the origin does, for the resource gov-hit
//               serves from its cache: the same status, headers and body (Node's ceiling)
//   node-same-head the same server and process, answering with a cache hit's bytes: the
//               origin's headers in the order Governor stores them, then Age and
//               X-Governor-Cache, which a hit adds (Node's ceiling for the hit's response itself)
//   gov-hit     Governor, every request a cache hit
//   gov-miss    Governor, every request to the origin (the origin says no-store)
//   hp-ka       http-proxy with a keep-alive agent
//   hp-ka-tuned the same, run with Governor's Node flags and malloc settings: the difference
//               between gov-miss and this one is Governor's own code alone
//   hp-default  http-proxy with its defaults (a new origin connection per request)
//   undici-pool a bare proxy whose origin leg is undici's keep-alive Pool (its `stream` API)
//               instead of Node's http client: how far a different client moves the floor
//   nginx-pass  nginx proxy_pass to a keep-alive upstream
//   nginx-cache nginx proxy_cache, every request a hit
// Throughput is closed-loop (wrk: --connections connections for --duration s), in --rounds
// rounds that visit every target in turn, so that a slow spell of a shared machine falls on
// every target alike: a target's figures are its median round, and a ratio is the median of the
// per-round ratios (each from two runs seconds apart), printed with its spread and a confidence
// interval for that median (round-statistics.mjs; with 7 rounds, their whole range). node-same-head /
// node compares one process with itself but for two headers: how far a run's ratio strays by
// the machine alone. CPU per request
// is the target's processes' user + system time over a run divided by its requests: unlike
// req/s, it does not depend on how the cores were shared with wrk and the origin; it is printed
// split too, user (the process's own code) + system (the kernel's work for it). Page faults
// per request (minor faults, the same way) show memory the process gives back to the kernel
// and faults in again; when they climb, CPU per request climbs with them. Latency is
// measured again at a fixed rate (autocannon, half the slowest target's throughput for that
// size, so that every target can sustain it). Memory is each target's resident set per worker,
// sampled halfway through its first closed-loop run. nginx and wrk come from Debian: the script
// installs them (apt-get) when they are missing and it runs as root, and says how otherwise.
// --instructions instead counts the instructions each Node target executes per request
// (valgrind's callgrind, also installed from Debian): a figure the machine's noise does not move,
// for comparing code changes (see runInstructions). --profile instead splits each Node target's
// CPU time per request by where it is spent, from perf's time samples (see runProfile).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { clearTimeout, setTimeout } from 'node:timers';
import { callgrindControl, callgrindDump, callgrindWrapper, countsPerRequest, machineCacheFlags } from './callgrind.mjs';
import { parseBenchArgs, positiveInteger, positiveIntegers, positiveNumber, someOf } from './bench-args.mjs';
import { countsByCategory, jitSymbols, UNNAMED_JIT } from './callgrind-categories.mjs';
import { CATEGORIES, microsPerRequest, recordWhile, removeSymbolMaps, samplesOf, SAMPLE_HZ } from './cpu-profile.mjs';
import { describeMachine } from './machine.mjs';
import { median, medianBy, medianInterval } from './round-statistics.mjs';
import { freePort, HOST, NO_SETTINGS, startRole, stopChild } from './server-processes.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The targets: [name, the server it loads, its path for a body size, which of the server's URLs]. */
const TARGETS = [
  ['node', 'node', (size) => `/c/${size}`],
  ['node-same-head', 'node', (size) => `/h/${size}`],
  ['gov-hit', 'governor', (size) => `/c/${size}`],
  ['gov-miss', 'governor', (size) => `/n/${size}`],
  ['hp-ka', 'hp-ka', (size) => `/n/${size}`],
  ['hp-ka-tuned', 'hp-ka-tuned', (size) => `/n/${size}`],
  ['hp-default', 'hp-default', (size) => `/n/${size}`],
  ['undici-pool', 'undici-pool', (size) => `/n/${size}`],
  ['nginx-pass', 'nginx', (size) => `/n/${size}`],
  ['nginx-cache', 'nginx', (size) => `/c/${size}`, 'cacheUrl'],
];
const TARGET_NAMES = TARGETS.map(([name]) => name);

const USAGE = `Usage:
  npm run build && node test/bench/proxy.mjs [--duration 2] [--rounds 5] [--warm-up 1] [--latency-duration 3]
                                             [--connections 32] [--workers 1] [--origin-workers N] [--sizes 1024,102400]
                                             [--targets node,gov-hit,...] (default: all) [--no-install]
  node test/bench/proxy.mjs --instructions [--instructions-requests 10000] [--callgrind-out DIR]
                                             [--simulate-cpu [--simulate-level N]] [--by-category] [--targets ...] [--sizes ...]
  node test/bench/proxy.mjs --profile [--rounds 5] [--duration 2] [--warm-up 1] [--targets ...] [--sizes ...]
Targets: ${TARGET_NAMES.join(', ')}.`;

const args = parseBenchArgs({
  usage: USAGE,
  options: {
    workers: { type: 'string', default: '1' },
    'origin-workers': { type: 'string' },
    duration: { type: 'string', default: '2' },
    'warm-up': { type: 'string', default: '1' },
    rounds: { type: 'string', default: '5' },
    'latency-duration': { type: 'string', default: '3' },
    connections: { type: 'string', default: '32' },
    sizes: { type: 'string', default: '1024,102400' },
    targets: { type: 'string' },
    'no-install': { type: 'boolean', default: false },
    instructions: { type: 'boolean', default: false },
    'instructions-requests': { type: 'string', default: '10000' },
    'callgrind-out': { type: 'string' },
    'simulate-cpu': { type: 'boolean' },
    'simulate-level': { type: 'string' },
    'by-category': { type: 'boolean' },
    profile: { type: 'boolean', default: false },
  },
  checks: {
    workers: positiveInteger,
    'origin-workers': positiveInteger,
    duration: positiveInteger,
    'warm-up': positiveInteger,
    rounds: positiveInteger,
    'latency-duration': positiveNumber,
    connections: positiveInteger,
    sizes: positiveIntegers,
    targets: someOf(TARGET_NAMES),
    'instructions-requests': positiveInteger,
    'simulate-level': (value) => positiveInteger(value) ?? simulableLevel(Number(value)),
  },
  requires: { 'callgrind-out': 'instructions', 'simulate-cpu': 'instructions', 'simulate-level': 'simulate-cpu', 'by-category': 'instructions' },
});
const WORKERS = Number(args.workers);
/**
 * Worker processes of the origin every proxy target is in front of (default: WORKERS). With more
 * than one it runs on node:cluster, whose primary accepts every connection and hands it to a
 * worker: work that only a proxy opening a connection per request (hp-default) pays for.
 */
const ORIGIN_WORKERS = Number(args['origin-workers'] ?? args.workers);
/** Starts the origin every proxy target is in front of, with ORIGIN_WORKERS workers. */
const startOrigin = () => startRole('origin', { workers: ORIGIN_WORKERS });
/** Seconds of closed-loop load each target gets before its first round, not recorded. */
const WARM_UP_SECONDS = Number(args['warm-up']);

/** A check: this machine has a unified cache of `level` for callgrind to simulate as its last level. */
function simulableLevel(level) {
  try {
    machineCacheFlags(undefined, level);
    return undefined;
  } catch (err) {
    return err.message;
  }
}

// ---------------------------------------------------------------- tools

function have(command) {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

/** Debian packages of the tools the benchmark runs. */
const PACKAGES = { nginx: 'nginx-light', wrk: 'wrk', valgrind: 'valgrind', perf: 'linux-perf' };

/** Where a tool is, if installed (nginx lives in /usr/sbin, outside some PATHs). */
function locate(name) {
  if (name === 'nginx' && existsSync('/usr/sbin/nginx')) return '/usr/sbin/nginx';
  return have(name) ? name : undefined;
}

/** The `needed` tools (names of PACKAGES) by where they are; installed with apt-get when missing and running as root. */
function ensureTools(needed) {
  const missing = needed.filter((name) => locate(name) === undefined);
  if (missing.length > 0) {
    const packages = missing.map((name) => PACKAGES[name]);
    if (process.getuid?.() !== 0 || args['no-install']) {
      console.error(`missing: ${missing.join(', ')}. Install them with: sudo apt-get update && sudo apt-get install -y ${packages.join(' ')}`);
      process.exit(2);
    }
    console.log(`installing ${packages.join(' ')} with apt-get ...`);
    for (const command of [['apt-get', ['update', '-qq']], ['apt-get', ['install', '-y', '-qq', ...packages]]]) {
      const result = spawnSync(command[0], command[1], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
      if (result.status !== 0) {
        console.error(`${command[0]} ${command[1].join(' ')} failed`);
        process.exit(2);
      }
    }
    // Debian's package starts a system nginx on port 80: this benchmark runs its own, so stop that one.
    if (missing.includes('nginx')) spawnSync('sh', ['-c', 'command -v service >/dev/null && service nginx stop'], { stdio: 'ignore' });
  }
  return Object.fromEntries(needed.map((name) => [name, locate(name)]));
}

/** nginx with its own prefix, pid, logs and temp paths under a temp dir; two servers: pass (`url`) and cache (`cacheUrl`). */
async function startNginx(nginx, dir, origin) {
  const passPort = await freePort();
  const cachePort = await freePort();
  for (const sub of ['logs', 'client_body', 'proxy_temp', 'fastcgi', 'uwsgi', 'scgi', 'cache']) mkdirSync(join(dir, sub), { recursive: true });
  const user = process.getuid?.() === 0 ? 'user root root;' : '';
  const location = `proxy_pass http://origin; proxy_http_version 1.1; proxy_set_header Connection "";`;
  const conf = `${user}
worker_processes ${WORKERS};
pid ${dir}/nginx.pid;
error_log ${dir}/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy_temp;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  proxy_cache_path ${dir}/cache levels=1:2 keys_zone=edge:10m max_size=256m inactive=60m use_temp_path=off;
  upstream origin { server ${origin.replace('http://', '')}; keepalive 128; }
  server { listen ${HOST}:${passPort}; location / { ${location} } }
  server { listen ${HOST}:${cachePort}; location / { ${location} proxy_cache edge; proxy_cache_valid 200 1h; } }
}
`;
  const confFile = join(dir, 'nginx.conf');
  writeFileSync(confFile, conf);
  const child = spawn(nginx, ['-p', dir, '-e', join(dir, 'logs/error.log'), '-c', confFile, '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'inherit'] });
  for (let i = 0; i < 100; i++) {
    if (await reachable(`http://${HOST}:${passPort}/n/1`)) break;
    if (child.exitCode !== null) throw new Error(`nginx exited: see ${dir}/logs/error.log`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { pid: child.pid, url: `http://${HOST}:${passPort}`, cacheUrl: `http://${HOST}:${cachePort}`, stop: () => stopChild(child) };
}

function reachable(url) {
  return new Promise((resolve) => {
    http.get(url, { agent: false }, (res) => res.resume().on('end', () => resolve(true))).on('error', () => resolve(false));
  });
}

// ---------------------------------------------------------------- measuring

/** The pids of `pid` and its descendants (Linux /proc). */
function processTree(pid) {
  const children = new Map();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (!children.has(ppid)) children.set(ppid, []);
      children.get(ppid).push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) tree.push(...(children.get(tree[i]) ?? []));
  return tree;
}

function rssMiB(pid) {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/** Resident memory per serving process: the workers (the leaves), or the process itself when it has none. */
function memoryPerWorker(pid) {
  const tree = processTree(pid);
  const workers = tree.length > 1 ? tree.slice(1) : tree;
  return workers.reduce((sum, one) => sum + rssMiB(one), 0) / workers.length;
}

function toMs(text) {
  const match = /([\d.]+)(us|ms|s)/.exec(text);
  if (!match) return NaN;
  return Number(match[1]) * { us: 0.001, ms: 1, s: 1000 }[match[2]];
}

/**
 * CPU time (user + system, and of it system, in ms; clock ticks of 10 ms) and minor page faults
 * of `pid` and its descendants so far (Linux /proc).
 */
function usage(pid) {
  let ticks = 0;
  let systemTicks = 0;
  let minorFaults = 0;
  for (const one of processTree(pid)) {
    try {
      const stat = readFileSync(`/proc/${one}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      minorFaults += Number(fields[7]);
      ticks += Number(fields[11]) + Number(fields[12]);
      systemTicks += Number(fields[12]);
    } catch {
      // gone meanwhile
    }
  }
  return { cpuMs: ticks * 10, systemMs: systemTicks * 10, minorFaults };
}

/** Closed-loop load with wrk for `seconds` (after `warmUpSeconds` of it not recorded, when given); memory sampled halfway. */
async function closedLoop(url, seconds, pid, warmUpSeconds = 0) {
  const run = (duration) =>
    new Promise((resolve, reject) => {
      const child = spawn('wrk', ['-t1', `-c${args.connections}`, `-d${duration}s`, '--latency', url]);
      let out = '';
      child.stdout.on('data', (chunk) => (out += chunk));
      child.on('error', reject);
      child.on('exit', () => resolve(out));
    });
  if (warmUpSeconds > 0) await run(warmUpSeconds); // connections, JIT, pools, the cache
  let memory = 0;
  const sampler = setTimeout(() => (memory = memoryPerWorker(pid)), (seconds * 1000) / 2);
  const before = usage(pid);
  const out = await run(seconds);
  const after = usage(pid);
  clearTimeout(sampler);
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN);
  const p50 = toMs(/\s50%\s+(\S+)/.exec(out)?.[1] ?? '');
  const p99 = toMs(/\s99%\s+(\S+)/.exec(out)?.[1] ?? '');
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0);
  const errors = /Socket errors: (.*)/.exec(out)?.[1] ?? '';
  const usPerRequest = (key) => ((after[key] - before[key]) * 1000) / requests;
  const cpuUsPerRequest = usPerRequest('cpuMs');
  const systemUsPerRequest = usPerRequest('systemMs');
  return { requests, rps, p50, p99, non2xx, errors, memory, cpuUsPerRequest, systemUsPerRequest, faultsPerRequest: (after.minorFaults - before.minorFaults) / requests };
}

/** Fixed-rate load with autocannon: latency when nobody is saturated. */
async function fixedRate(url, rate, seconds) {
  const { default: autocannon } = await import('autocannon');
  const result = await autocannon({ url, connections: Number(args.connections), overallRate: rate, duration: seconds });
  return { p50: result.latency.p50, p99: result.latency.p99, errors: result.errors + result.timeouts + result.non2xx };
}

// ---------------------------------------------------------------- the run

/** How each Node server starts: its role, and whether it runs with Governor's process settings. */
const NODE_SERVERS = {
  node: ['origin', false],
  governor: ['governor', true],
  'hp-ka': ['hp-ka', false],
  'hp-ka-tuned': ['hp-ka', true],
  'hp-default': ['hp-default', false],
  'undici-pool': ['undici-pool', false],
};

/** Starts one of NODE_SERVERS in front of `origin`, with `extraFlags` added to its Node flags (`wrapper`: see startRole). */
function startNodeServer(server, origin, governorSettings, wrapper = undefined, extraFlags = []) {
  const [role, tuned] = NODE_SERVERS[server];
  const settings = tuned ? governorSettings : NO_SETTINGS;
  return startRole(role, {
    origin: role === 'origin' ? undefined : origin.url,
    workers: WORKERS,
    settings: { ...settings, nodeFlags: [...settings.nodeFlags, ...extraFlags] },
    wrapper,
  });
}

/** The ratios reported: [first, second, the target for first / second, if the issue states one]. */
const PAIRS = [
  ['gov-hit', 'node', 0.9],
  ['gov-hit', 'node-same-head'],
  ['gov-miss', 'hp-ka', 0.9],
  ['gov-miss', 'hp-ka-tuned'],
  ['gov-miss', 'hp-default', 2.5],
  ['gov-miss', 'nginx-pass'],
  ['gov-hit', 'nginx-cache'],
  ['nginx-pass', 'hp-ka'],
  ['gov-miss', 'undici-pool'],
  ['undici-pool', 'hp-ka'],
  ['gov-miss', 'node'],
  ['node-same-head', 'node'],
];

/** Where a ratio's median interval lies against a target: whether the rounds decide the verdict. */
function intervalAgainst(interval, target) {
  if (interval.low >= target) return 'CI above';
  if (interval.high < target) return 'CI below';
  return 'CI spans it';
}

/** The PAIRS whose two targets `rows` ({ name, size }) both has, per size: { size, a, b, x, y (their rows), target }. */
function measuredPairs(rows) {
  const found = [];
  for (const size of [...new Set(rows.map((row) => row.size))]) {
    const of = (name) => rows.find((row) => row.name === name && row.size === size);
    for (const [a, b, target] of PAIRS) {
      const x = of(a);
      const y = of(b);
      if (x !== undefined && y !== undefined) found.push({ size, a, b, x, y, target });
    }
  }
  return found;
}

/** What the figures were measured on, for every report's heading (measured once, before any server starts). */
const MACHINE = describeMachine();
const sizeLabel = (size) => (size >= 1024 ? `${size / 1024} KiB` : `${size} B`);

/** Warm-up requests per counted request: with fewer, the bare server still ran in part unoptimized (82k instructions per request after 6k requests, 60k after 30k). */
const WARM_UP = 3;

/**
 * --instructions: the instructions each Node target executes per request on its event-loop
 * thread, counted by valgrind's callgrind. Unlike req/s and CPU time, the count does not depend on
 * what else the machine runs (it repeats to within about 0.5%), so it shows what a code change
 * costs. Each target gets a fresh process of its server under callgrind (one at a time, the
 * origin outside it), so that no target's count depends on which others ran before it in the same
 * process (gov-hit and gov-miss, node and node-same-head share one); it is warmed with WARM_UP x
 * --instructions-requests requests (8 connections), its counters are zeroed, and the next
 * --instructions-requests requests are counted. Helper threads (JIT compiler, GC)
 * are left out: under valgrind they still compile after the warm-up, which native runs do not.
 * With --simulate-cpu it also counts simulated cache misses and mispredicted branches per request,
 * the ways in which the same instructions can take more cycles in one process than in another;
 * --simulate-level picks the cache level whose misses the last-level column counts (default the
 * highest; callgrind simulates L1 and one more). With --by-category the servers run with
 * --perf-basic-prof, and each count is also split by where it falls (callgrind-categories.mjs: the
 * categories of --profile), so that a difference between two targets shows in whose code it lies.
 */
async function runInstructions(selected, governorSettings) {
  ensureTools(['valgrind']);
  const { default: autocannon } = await import('autocannon');
  const count = Number(args['instructions-requests']);
  // Callgrind's files go to a temporary folder, removed after, unless --callgrind-out keeps them for callgrind_annotate.
  const keep = args['callgrind-out'];
  if (keep !== undefined) mkdirSync(keep, { recursive: true });
  const dir = keep ?? mkdtempSync(join(tmpdir(), 'governor-bench-'));
  const origin = await startOrigin();
  const measured = TARGETS.filter(([name, server]) => selected.includes(name) && server in NODE_SERVERS);
  const simulate = args['simulate-cpu'] === true;
  const cacheFlags = simulate ? machineCacheFlags(undefined, args['simulate-level'] === undefined ? undefined : Number(args['simulate-level'])) : [];
  const wrapper = callgrindWrapper(dir, simulate, cacheFlags);
  const byCategory = args['by-category'] === true;
  const rows = [];
  try {
    for (const size of args.sizes.split(',').map(Number)) {
      for (const [name, server, path] of measured) {
        const child = await startNodeServer(server, origin, governorSettings, wrapper, byCategory ? PROFILED_NODE_FLAGS(dir) : []);
        try {
          const url = child.url + path(size);
          await autocannon({ url, connections: 8, amount: WARM_UP * count });
          callgrindControl('-z', String(child.pid));
          const load = await autocannon({ url, connections: 8, amount: count });
          const dumped = callgrindDump(child.pid, dir);
          const figures = countsPerRequest(dumped.counts, count);
          const categories = byCategory ? categoryCounts(dumped.text, child.pid, count) : undefined;
          rows.push({ name, size, ...figures, categories, errors: load.errors + load.timeouts + load.non2xx });
          console.log(`${sizeLabel(size)} ${name}: ${Math.round(figures.instructions)} instructions per request${keep === undefined ? '' : ` (${join(dir, dumped.file)})`}`);
        } finally {
          await child.stop();
          removeSymbolMaps([child.pid]);
        }
      }
    }
  } finally {
    await origin.stop();
    if (keep === undefined) rmSync(dir, { recursive: true, force: true });
  }
  const caches = simulate ? `; simulated caches ${cacheFlags.join(' ') || "as valgrind detects them"} (size,ways,line)` : '';
  console.log(`\nInstructions per request on the event-loop thread (callgrind, ${count} requests after ${WARM_UP * count}${caches}), ${MACHINE}\n`);
  // With --simulate-cpu, columns of simulated L1 misses, last-level misses and mispredicted branches (simulatedMisses' keys), `value(key)` each.
  const simulated = (value) => (simulate ? { 'L1 misses': value('l1'), 'LL misses': value('lastLevel'), mispredicts: value('branches') } : {});
  console.table(rows.map((row) => ({ target: row.name, size: sizeLabel(row.size), 'instructions/req': Math.round(row.instructions), ...simulated((key) => row[key].toFixed(1)), errors: row.errors })));
  const ratios = measuredPairs(rows).map(({ size, a, b, x, y }) => ({
    size: sizeLabel(size),
    ratio: `${a} / ${b}`,
    instructions: fmt(x.instructions / y.instructions),
    ...simulated((key) => fmt(x[key] / y[key])),
  }));
  if (ratios.length > 0) {
    console.log('\nRatios (lower is cheaper for the first)\n');
    console.table(ratios);
  }
  if (byCategory) reportCategories(rows, simulate);
}

/**
 * The counts of callgrind file text `dump` of process `pid` by category ({ category:
 * countsPerRequest over `requests` }), its JIT code named from the process's symbol map.
 */
function categoryCounts(dump, pid, requests) {
  const symbolAt = jitSymbols(readFileSync(`/tmp/perf-${pid}.map`, 'utf8'));
  const byCategory = countsByCategory(dump, symbolAt, ROOT);
  return Object.fromEntries([...byCategory].map(([category, counts]) => [category, countsPerRequest(counts, requests)]));
}

/** --by-category: per size, a table per count (instructions; with --simulate-cpu L1 and last-level misses), a row per category, a column per target. */
function reportCategories(rows, simulate) {
  const counts = [['instructions', 'Instructions'], ...(simulate ? [['l1', 'L1 misses'], ['lastLevel', 'Last-level misses']] : [])];
  for (const size of [...new Set(rows.map((row) => row.size))]) {
    const sized = rows.filter((row) => row.size === size);
    const categories = [...CATEGORIES, UNNAMED_JIT].filter((category) => sized.some((row) => row.categories[category] !== undefined));
    for (const [key, title] of counts) {
      console.log(`\n${sizeLabel(size)}: ${title} per request by where they fall (self counts of each function, so they add up to callgrind's totals)\n`);
      console.table(
        categories.map((category) => ({
          category,
          ...Object.fromEntries(sized.map((row) => [row.name, fmt(row.categories[category]?.[key] ?? 0, key === 'instructions' ? 0 : 1)])),
        })),
      );
    }
  }
}

/**
 * Starts the server of each of `targets` (entries of TARGETS) once, with `start(server)`, adding
 * each to `started` as it comes up (so that a failure later still stops it); returns them by server.
 */
async function startServers(targets, start, started) {
  const servers = {};
  for (const [, server] of targets) {
    if (servers[server] !== undefined) continue;
    servers[server] = await start(server);
    started.push(servers[server]);
  }
  return servers;
}

/** One row for loadInRounds per entry of `targets`, on its server's URL (`urlKey`) for body size `size`. */
function rowsFor(targets, servers, size) {
  return targets.map(([name, server, path, urlKey = 'url']) => ({ name, size, url: servers[server][urlKey] + path(size), pid: servers[server].pid, runs: [] }));
}

/**
 * Loads `rows` (targets for body size `size`: { name, url, pid, runs }) in --rounds rounds, each
 * visiting every row in turn, so that a slow spell of a shared machine falls on every target
 * alike; `measure(row, round)` makes one run, which is added to row.runs and must give its `rps`.
 */
async function loadInRounds(size, rows, measure) {
  const rounds = Number(args.rounds);
  for (let round = 0; round < rounds; round++) {
    process.stdout.write(`${size} B, round ${round + 1}/${rounds}:`);
    for (const row of rows) {
      const run = await measure(row, round);
      row.runs.push(run);
      process.stdout.write(` ${row.name} ${Math.round(run.rps)}`);
    }
    process.stdout.write('\n');
  }
}

/**
 * The Node flags of a profiled server: --perf-basic-prof, which also opens V8's log (by default
 * isolate-<address>-<pid>-v8.log in the working directory), so that log goes to `dir`.
 */
const PROFILED_NODE_FLAGS = (dir) => ['--perf-basic-prof', '--no-logfile-per-isolate', `--logfile=${join(dir, 'v8-%p.log')}`];

/**
 * --profile: each Node target's CPU time per request split by where it is spent (the categories of
 * cpu-profile.mjs), from perf's cpu-clock samples of its processes, every thread and the kernel's
 * work for them included. The runs are the closed-loop runs of the main benchmark (--rounds rounds
 * of --duration s visiting every target in turn, --warm-up s of warm-up first), each recorded by perf; the
 * servers run with --perf-basic-prof so that JavaScript functions have names. Where callgrind
 * counts instructions, samples weigh each function by the time it took, so they show where a
 * target spends more time per instruction than another (what req/s and CPU time measure).
 */
async function runProfile(selected, governorSettings) {
  ensureTools(['wrk', 'perf']);
  const seconds = Number(args.duration);
  const dir = mkdtempSync(join(tmpdir(), 'governor-bench-'));
  const measured = TARGETS.filter(([name, server]) => selected.includes(name) && server in NODE_SERVERS);
  const started = [];
  const profiled = [];
  try {
    started.push(await startOrigin());
    const servers = await startServers(measured, (server) => startNodeServer(server, started[0], governorSettings, undefined, PROFILED_NODE_FLAGS(dir)), started);
    for (const server of Object.values(servers)) profiled.push(...processTree(server.pid));
    const rows = [];
    for (const size of args.sizes.split(',').map(Number)) {
      const sized = rowsFor(measured, servers, size);
      await loadInRounds(size, sized, async (row, round) => {
        if (round === 0) await closedLoop(row.url, WARM_UP_SECONDS, row.pid); // the warm-up, not recorded
        const file = join(dir, `${row.name}-${size}-${round}.data`);
        const run = await recordWhile(processTree(row.pid), file, () => closedLoop(row.url, seconds, row.pid));
        return { ...run, samples: samplesOf(file, ROOT) };
      });
      rows.push(...sized);
    }
    reportProfile(rows, seconds);
  } finally {
    for (const server of started.reverse()) await server.stop();
    removeSymbolMaps(profiled);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** How many functions reportProfile lists per ratio. */
const PROFILE_FUNCTIONS = 15;

function reportProfile(rows, seconds) {
  const rounds = rows[0]?.runs.length ?? 0;
  const sampledMicros = (run) => microsPerRequest([...run.samples.byCategory.values()].reduce((sum, one) => sum + one, 0), run.requests);
  console.log(
    `\nCPU time per request by where it is spent (µs; perf cpu-clock samples at ${SAMPLE_HZ} Hz, every thread of the target's processes), ` +
      `median of ${rounds} rounds of ${seconds} s closed-loop, ${args.connections} connections, ${MACHINE}. ` +
      `Each column is its own median, so they need not add up to the total; /proc gives the target's CPU time per request measured the usual way.\n`,
  );
  console.table(
    rows.map((row) => ({
      target: row.name,
      size: sizeLabel(row.size),
      'req/s': Math.round(median(row.runs.map((run) => run.rps))),
      total: fmt(median(row.runs.map(sampledMicros)), 1),
      '/proc': fmt(median(row.runs.map((run) => run.cpuUsPerRequest)), 1),
      ...Object.fromEntries(CATEGORIES.map((category) => [category, fmt(median(row.runs.map((run) => microsPerRequest(run.samples.byCategory.get(category) ?? 0, run.requests))))])),
    })),
  );
  // Per function, over all rounds together: a function's samples are too few in one round.
  const perFunction = (row) => {
    const requests = row.runs.reduce((sum, run) => sum + run.requests, 0);
    const samples = new Map();
    for (const run of row.runs) for (const [symbol, count] of run.samples.bySymbol) samples.set(symbol, (samples.get(symbol) ?? 0) + count);
    return new Map([...samples].map(([symbol, count]) => [symbol, microsPerRequest(count, requests)]));
  };
  for (const { size, a, b, x, y } of measuredPairs(rows)) {
    const first = perFunction(x);
    const second = perFunction(y);
    const differences = [...new Set([...first.keys(), ...second.keys()])]
      .map((symbol) => ({ symbol, a: first.get(symbol) ?? 0, b: second.get(symbol) ?? 0 }))
      .sort((one, other) => Math.abs(other.a - other.b) - Math.abs(one.a - one.b))
      .slice(0, PROFILE_FUNCTIONS);
    console.log(`\n${sizeLabel(size)} ${a} / ${b}: the ${PROFILE_FUNCTIONS} functions whose time per request differs most (µs, all rounds)\n`);
    console.table(differences.map(({ symbol, a: timeA, b: timeB }) => ({ function: symbol.slice(0, 90), [a]: fmt(timeA), [b]: fmt(timeB), difference: fmt(timeA - timeB) })));
  }
}

async function runBench() {
  if (process.platform !== 'linux') {
    console.error('the benchmark reads /proc for memory figures: run it on Linux');
    process.exit(2);
  }
  if (!existsSync(join(ROOT, 'dist/proxy/cluster.js'))) {
    console.error('dist/ is missing: run npm run build first (npm run bench:proxy does)');
    process.exit(2);
  }
  const { PROXY_NODE_FLAGS, proxyProcessEnv } = await import(join(ROOT, 'dist/proxy/process-settings.js'));
  const selected = args.targets === undefined ? TARGET_NAMES : args.targets.split(',');
  const governorSettings = { nodeFlags: PROXY_NODE_FLAGS, env: proxyProcessEnv() };
  if (args.instructions) return runInstructions(selected, governorSettings);
  if (args.profile) return runProfile(selected, governorSettings);
  const needsNginx = TARGETS.some(([name, server]) => selected.includes(name) && server === 'nginx');
  const { nginx } = ensureTools(['wrk', ...(needsNginx ? ['nginx'] : [])]);
  const dir = mkdtempSync(join(tmpdir(), 'governor-bench-'));
  const started = [];
  try {
    const origin = await startOrigin();
    started.push(origin);
    const chosen = TARGETS.filter(([name]) => selected.includes(name));
    const servers = await startServers(
      chosen,
      (server) => (server === 'nginx' ? startNginx(nginx, dir, origin.url) : startNodeServer(server, origin, governorSettings)),
      started,
    );
    const seconds = Number(args.duration);
    const latencySeconds = Number(args['latency-duration']);
    const results = [];
    for (const size of args.sizes.split(',').map(Number)) {
      const rows = rowsFor(chosen, servers, size);
      await loadInRounds(size, rows, (row, round) => closedLoop(row.url, seconds, row.pid, round === 0 ? WARM_UP_SECONDS : 0));
      for (const row of rows) {
        row.closed = {
          ...medianBy(row.runs, (run) => run.rps),
          memory: row.runs[0].memory,
          cpuUsPerRequest: median(row.runs.map((run) => run.cpuUsPerRequest)),
          userUsPerRequest: median(row.runs.map((run) => run.cpuUsPerRequest - run.systemUsPerRequest)),
          systemUsPerRequest: median(row.runs.map((run) => run.systemUsPerRequest)),
          faultsPerRequest: median(row.runs.map((run) => run.faultsPerRequest)),
        };
      }
      const rate = Math.max(100, Math.floor((0.5 * Math.min(...rows.map((row) => row.closed.rps))) / 100) * 100);
      for (const row of rows) row.fixed = { rate, ...(await fixedRate(row.url, rate, latencySeconds)) };
      results.push(...rows);
    }
    report(results, seconds);
  } finally {
    for (const server of started.reverse()) await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const fmt = (value, digits = 2) => (Number.isFinite(value) ? value.toFixed(digits) : 'n/a');

function report(results, seconds) {
  console.log(
    `\n${args.connections} connections, ${args.rounds} rounds of ${seconds} s closed-loop per target (median round shown), ${WORKERS} worker(s) per target, ${ORIGIN_WORKERS} for the origin, ${MACHINE}, wrk + autocannon on 127.0.0.1\n`,
  );
  console.table(
    results.map((row) => ({
      target: row.name,
      size: sizeLabel(row.size),
      'req/s': Math.round(row.closed.rps),
      'spread req/s': `${Math.round(Math.min(...row.runs.map((run) => run.rps)))}-${Math.round(Math.max(...row.runs.map((run) => run.rps)))}`,
      'CPU us/req': fmt(row.closed.cpuUsPerRequest, 1),
      'user+sys': `${fmt(row.closed.userUsPerRequest, 1)}+${fmt(row.closed.systemUsPerRequest, 1)}`,
      'faults/req': fmt(row.closed.faultsPerRequest),
      'p50 ms': fmt(row.closed.p50),
      'p99 ms': fmt(row.closed.p99),
      [`@rate req/s`]: row.fixed.rate,
      'rate p50 ms': fmt(row.fixed.p50),
      'rate p99 ms': fmt(row.fixed.p99),
      'RSS/worker MiB': fmt(row.closed.memory, 1),
      'non-2xx/errors': `${row.closed.non2xx}${row.closed.errors ? ` ${row.closed.errors}` : ''}/${row.fixed.errors}`,
    })),
  );
  const ratios = [];
  for (const { size, a, b, x, y, target } of measuredPairs(results)) {
    const perRound = x.runs.map((run, i) => run.rps / y.runs[i].rps);
    const ratio = median(perRound);
    const interval = medianInterval(perRound);
    ratios.push({
      size: sizeLabel(size),
      ratio: `${a} / ${b}`,
      'req/s': fmt(ratio),
      'per round': perRound.map((one) => fmt(one)).join(' '),
      'median CI': `${fmt(interval.low)}-${fmt(interval.high)} (${Math.floor(interval.coverage * 100)}%)`,
      'CPU/req': fmt(x.closed.cpuUsPerRequest / y.closed.cpuUsPerRequest),
      'user/req': fmt(x.closed.userUsPerRequest / y.closed.userUsPerRequest),
      'sys/req': fmt(x.closed.systemUsPerRequest / y.closed.systemUsPerRequest),
      'p50 (closed)': fmt(x.closed.p50 / y.closed.p50),
      'p99 (closed)': fmt(x.closed.p99 / y.closed.p99),
      'p99 (@rate)': fmt(x.fixed.p99 / y.fixed.p99),
      target: target === undefined ? '' : `>= ${target}x req/s: ${ratio >= target ? 'met' : 'NOT met'}, ${intervalAgainst(interval, target)}`,
    });
  }
  console.log('\nRatios (req/s: median of the per-round ratios, higher is better for the first; CPU per request and latency: lower is better)\n');
  console.table(ratios);
}

await runBench();
