import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Runs test/bench/<script> with `args` in a fresh Node process and returns how it ended (at most 20 s). */
export function runScript(script: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const path = fileURLToPath(new URL(`./${script}`, import.meta.url));
  const { status, stdout, stderr } = spawnSync(process.execPath, [path, ...args], { encoding: 'utf8', timeout: 20_000 });
  return { status, stdout, stderr };
}
