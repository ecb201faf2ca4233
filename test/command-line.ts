import { readFileSync } from 'node:fs';

/** The arguments a running process `pid` was started with, its program first (Linux /proc). */
export function commandLineOf(pid: number): string[] {
  return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((arg) => arg !== '');
}
