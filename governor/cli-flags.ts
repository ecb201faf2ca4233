import { GovError } from './errors.js';

/** Parsed `node:util` parseArgs values of one command. */
export type FlagValues = Record<string, string | boolean | undefined>;

/** A command-line mistake (exit code 2). */
export function usageError(message: string): GovError {
  return new GovError('GOV_ERR_CLI_USAGE', message);
}

/**
 * The number given as `--name`, or `fallback` when the flag is absent. A value that is not a
 * number, is out of [min, max], or is not an integer when `integer` is asked for is a usage error
 * naming the flag, the bounds and the value.
 */
export function numberFlag(values: FlagValues, name: string, fallback: number, check: { min?: number; max?: number; integer?: boolean } = {}): number {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  const { min = -Infinity, max = Infinity, integer = false } = check;
  if (typeof raw !== 'string' || raw.trim() === '' || !Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
    const range = [min > -Infinity ? `>= ${min}` : '', max < Infinity ? `<= ${max}` : ''].filter(Boolean).join(' and ');
    throw usageError(`--${name} must be ${integer ? 'an integer' : 'a number'}${range ? ` ${range}` : ''}, got ${JSON.stringify(raw)}`);
  }
  return n;
}
