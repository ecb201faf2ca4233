/**
 * How every process that runs the proxy is started: an instance (`governor start`, whose proxy
 * runs in-process with `proxy.workers` 1) and each proxy worker. Both settings are read once,
 * when the process starts, so they travel with every such start: `governor up` passes them to
 * the instances it starts, self-replication to its copies, the cluster primary to its workers,
 * and ami/governor.service and the CLI's `#!` line spell them out (a test keeps those two equal
 * to the lists here).
 *
 * Node flag --initial-old-space-size=128: V8 counts the ArrayBuffer memory allocated since the
 * last full collection (every body chunk read from a socket) against the old generation's limit.
 * Once a process has had one full collection (loading the config schema's compiled validators
 * is enough), that limit is set from the small live heap (about 10 MiB live, limit 30-50 MiB),
 * and streaming large bodies then starts a full collection every 100 ms or so; each frees memory
 * that the next requests fault back in. With the flag the limit stays at least 128 MiB of heap,
 * which bodies do not reach between collections. Measured on 100 KiB misses (the proxy alone, 1
 * worker, 32 connections): 40-110 full collections in 9 s without it, none with it; CPU per
 * request about 170 µs instead of 200-420. The cost: a worker's heap may hold up to 128 MiB
 * before its first full collection. Setting it at run time (v8.setFlagsFromString) has no
 * effect: the limit was measured unchanged.
 *
 * GLIBC_TUNABLES glibc.malloc.trim_threshold=128 MiB, glibc.malloc.mmap_threshold=32 MiB: body
 * buffers come from glibc's malloc. By default glibc gives the top of its heap back to the
 * kernel (brk) whenever 128 KiB or more of it is free, and under 100 KiB misses that happened in
 * spells: about 150 brk calls a second and 6 page faults per request, each request faulting back
 * in what the last one gave away (measured with strace -c and /proc/PID/stat), against none and
 * 0.1 in the calm spells of the same build. With the threshold at 128 MiB the heap is kept and
 * the spells did not happen. Setting a threshold turns off glibc's own raising of the mmap
 * threshold, so that one is set too, to glibc's own ceiling (32 MiB), to keep large bodies in the
 * heap instead of an mmap and munmap each. The cost: a worker keeps up to 128 MiB of freed malloc
 * memory instead of returning it. Other C libraries ignore the variable. (/proc/PID/environ
 * shows the variable cut after its first tunable: glibc marks the original block as it reads it;
 * the process's own environment, which its children inherit, keeps all of them.)
 */
export const PROXY_NODE_FLAGS: readonly string[] = ['--initial-old-space-size=128'];

export const PROXY_MALLOC_TUNABLES: readonly string[] = ['glibc.malloc.trim_threshold=134217728', 'glibc.malloc.mmap_threshold=33554432'];

/** `given` followed by those `name=value` settings of `ours` whose name it does not set already. */
function withMissing(given: readonly string[], ours: readonly string[]): string[] {
  const nameOf = (setting: string) => setting.split('=')[0];
  const names = new Set(given.map(nameOf));
  return [...given, ...ours.filter((setting) => !names.has(nameOf(setting)))];
}

/**
 * `execArgv` followed by those of PROXY_NODE_FLAGS it does not set already: a flag the operator
 * gave the process (`node --initial-old-space-size=256 ...`) wins and is passed on as given.
 */
export function withProxyNodeFlags(execArgv: readonly string[]): string[] {
  return withMissing(execArgv, PROXY_NODE_FLAGS);
}

/**
 * The environment to add when starting a proxy process from one whose environment is `env`:
 * GLIBC_TUNABLES with `env`'s own tunables first and those of PROXY_MALLOC_TUNABLES it does not
 * set after them, so that an operator's value wins and is passed on as given.
 */
export function proxyProcessEnv(env: NodeJS.ProcessEnv = process.env): { GLIBC_TUNABLES: string } {
  const given = (env.GLIBC_TUNABLES ?? '').split(':').filter((setting) => setting !== '');
  return { GLIBC_TUNABLES: withMissing(given, PROXY_MALLOC_TUNABLES).join(':') };
}
