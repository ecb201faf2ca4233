import { readFileSync } from 'node:fs';

/** The NUL-separated strings of a /proc file of process `pid` (Linux). */
function procStrings(pid: number, file: 'cmdline' | 'environ'): string[] {
  return readFileSync(`/proc/${pid}/${file}`, 'utf8').split('\0').filter((one) => one !== '');
}

/** The arguments a running process `pid` was started with, its program first (Linux /proc). */
export function commandLineOf(pid: number): string[] {
  return procStrings(pid, 'cmdline');
}

/** The environment a running process `pid` was started with (Linux /proc). */
export function environmentOf(pid: number): Record<string, string> {
  return Object.fromEntries(
    procStrings(pid, 'environ').map((entry) => {
      const equals = entry.indexOf('=');
      return [entry.slice(0, equals), entry.slice(equals + 1)];
    }),
  );
}
