// What a benchmark's figures were measured on. Runs on different machines do not compare: the
// project's VM has changed under it (docs/proxy-benchmark-runs.md, "Machines"), and what one
// costs differently from another, a page fault above all, moves some targets and not others.
import { Buffer } from 'node:buffer';
import { cpus, release } from 'node:os';

const PAGE_BYTES = 4096;

/**
 * Microseconds of CPU time per minor page fault in this process: the user plus system time to
 * touch one byte of each page of `megabytes` MiB freshly allocated outside V8's heap (each first
 * touch faults the page in), divided by the faults counted meanwhile (NaN if none were). Returns
 * { micros, faults }. A fault's cost is the kernel's and the hypervisor's work: a process that
 * gives memory back and faults it in again (what the benchmark's faults/req column counts) pays
 * it for every page.
 */
export function minorFaultCost(megabytes = 64) {
  const before = process.resourceUsage();
  // allocUnsafeSlow: memory straight from the allocator (an mmap at this size), not yet touched.
  const buffer = Buffer.allocUnsafeSlow(megabytes * 1024 * 1024);
  for (let offset = 0; offset < buffer.length; offset += PAGE_BYTES) buffer[offset] = 1;
  const after = process.resourceUsage();
  const cpuMicros = after.userCPUTime + after.systemCPUTime - before.userCPUTime - before.systemCPUTime;
  const faults = after.minorPageFault - before.minorPageFault;
  return { micros: faults > 0 ? cpuMicros / faults : NaN, faults };
}

/** One line for a report's heading: Node, the Linux release, the CPUs, and what a minor page fault costs here. */
export function describeMachine() {
  const cores = cpus();
  const fault = minorFaultCost();
  return `node ${process.version}, Linux ${release()}, ${cores.length} x ${cores[0]?.model.trim() ?? 'unknown CPU'}, a minor page fault ${fault.micros.toFixed(1)} µs`;
}
