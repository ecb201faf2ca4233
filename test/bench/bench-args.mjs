// The command line of a benchmark script. Benchmarks run for minutes: one given an argument it
// would misread (a typo, a count of zero, a word where a number goes) must refuse it at once
// rather than run and print figures of something else.
import { parseArgs } from 'node:util';

/**
 * The options of `argv` (default: this process's), parsed by node:util's parseArgs with
 * `options` plus `--help`. `--help` prints `usage` and exits 0. An unknown or malformed option,
 * or a value that its entry in `checks` refuses (a check returns a message, or undefined when the
 * value is good), prints the problem and `usage` to stderr and exits 2. Checks run only on
 * options given a value (by the command line or a default). An option named in `requires` is
 * refused the same way, before any check, when the option it maps to is not set (it means nothing
 * without it).
 */
export function parseBenchArgs({ options, usage, checks = {}, requires = {}, argv = process.argv.slice(2) }) {
  let values;
  try {
    ({ values } = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', default: false } } }));
  } catch (err) {
    refuse(err.message, usage);
  }
  if (values.help) {
    console.log(usage);
    process.exit(0);
  }
  for (const [name, needed] of Object.entries(requires)) {
    if (values[name] !== undefined && !values[needed]) refuse(`--${name} needs --${needed}`, usage);
  }
  for (const [name, check] of Object.entries(checks)) {
    if (values[name] === undefined) continue;
    const problem = check(values[name]);
    if (problem !== undefined) refuse(`--${name} ${values[name]}: ${problem}`, usage);
  }
  return values;
}

function refuse(problem, usage) {
  console.error(`${problem}\n\n${usage}`);
  process.exit(2);
}

/** A check: a finite number above zero ("0.5", "3"). */
export const positiveNumber = (value) => (Number.isFinite(Number(value)) && Number(value) > 0 ? undefined : 'expected a number above 0');

/** A check: a whole number above zero ("32"). */
export const positiveInteger = (value) => (/^[1-9][0-9]*$/.test(value) ? undefined : 'expected a whole number above 0');

/** A check: whole numbers above zero, separated by commas ("1024,102400"). */
export const positiveIntegers = (value) => (/^[1-9][0-9]*(,[1-9][0-9]*)*$/.test(value) ? undefined : 'expected whole numbers above 0, separated by commas');

/** A check factory: one of `allowed`. */
export const oneOf = (allowed) => (value) => (allowed.includes(value) ? undefined : `expected one of ${allowed.join(', ')}`);

/** A check factory: some of `allowed`, separated by commas. */
export const someOf = (allowed) => (value) => {
  const unknown = value.split(',').filter((one) => !allowed.includes(one));
  return unknown.length === 0 ? undefined : `unknown ${unknown.join(', ')}; expected some of ${allowed.join(', ')}`;
};
