/**
 * Node flags for every process that runs the proxy: an instance (`governor start`, whose proxy
 * runs in-process with `proxy.workers` 1) and each proxy worker. They are V8 heap settings, read
 * when the process starts, so they are passed on the command line of every such process: by
 * `governor up` for the instances it starts, by self-replication, by the cluster primary for its
 * workers, and literally in ami/governor.service and the CLI's `#!` line (a test keeps those two
 * equal to this list).
 *
 * --initial-old-space-size=128: V8 counts the ArrayBuffer memory allocated since the last full
 * collection (every body chunk read from a socket) against the old generation's limit. Once a
 * process has had one full collection (loading the config schema's compiled validators is
 * enough), that limit is set from the small live heap (about 10 MiB live, limit 30-50 MiB), and
 * streaming large bodies then starts a full collection every 100 ms or so; each frees memory
 * that the next requests fault back in. With the flag the limit stays at least 128 MiB of heap,
 * which bodies do not reach between collections. Measured on 100 KiB misses (the proxy alone, 1
 * worker, 32 connections): 40-110 full collections in 9 s without it, none with it; CPU per
 * request about 170 µs instead of 200-420, page faults per request 0.1 instead of 2-15. The cost:
 * a worker's heap may hold up to 128 MiB before its first full collection. Setting the flag at
 * run time (v8.setFlagsFromString) has no effect: the limit was measured unchanged.
 */
export const PROXY_NODE_FLAGS: readonly string[] = ['--initial-old-space-size=128'];

/**
 * `execArgv` followed by those of PROXY_NODE_FLAGS it does not set already: a flag the operator
 * gave the process (`node --initial-old-space-size=256 ...`) wins and is passed on as given.
 */
export function withProxyNodeFlags(execArgv: readonly string[]): string[] {
  const nameOf = (flag: string) => flag.split('=')[0];
  const given = new Set(execArgv.map(nameOf));
  return [...execArgv, ...PROXY_NODE_FLAGS.filter((flag) => !given.has(nameOf(flag)))];
}
