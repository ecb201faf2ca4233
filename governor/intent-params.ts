import { GovError } from './errors.js';
import type { Intent } from './facts.js';

/** A numeric event param of an action: its default when the rule leaves it out, and its range. */
export interface NumberParam {
  default: number;
  min: number;
  max: number;
  integer?: boolean;
  /** The unit or meaning, for error messages: "seconds", "fraction of requests". */
  unit: string;
}

export type ParamSpec = Record<string, NumberParam>;

export type ParamValues<S extends ParamSpec> = { [K in keyof S]: number };

/**
 * The params of `intent` (its rule's event params) read against `spec`: a missing param takes
 * its default. Throws GovError GOV_ERR_ACTION_PARAMS, naming the rule, its file, each bad param,
 * its value and what was expected, for a param that is not a finite number in range (an
 * integer where required) and for an unknown param (a misspelt name must not silently fall
 * back to a default).
 */
export function readIntentParams<S extends ParamSpec>(intent: Intent, spec: S): ParamValues<S> {
  const given = intent.params ?? {};
  const problems: string[] = [];
  for (const name of Object.keys(given)) {
    if (!Object.hasOwn(spec, name)) problems.push(`unknown param '${name}' (known: ${Object.keys(spec).join(', ')})`);
  }
  const values: Record<string, number> = {};
  for (const [name, p] of Object.entries(spec)) {
    const value = given[name];
    if (value === undefined) {
      values[name] = p.default;
      continue;
    }
    const inRange = typeof value === 'number' && Number.isFinite(value) && value >= p.min && value <= p.max;
    if (!inRange || (p.integer === true && !Number.isInteger(value))) {
      const kind = p.integer === true ? 'an integer' : 'a number';
      problems.push(`'${name}' is ${JSON.stringify(value)}: expected ${kind} from ${p.min} to ${p.max} (${p.unit})`);
      continue;
    }
    values[name] = value;
  }
  if (problems.length > 0) {
    throw new GovError('GOV_ERR_ACTION_PARAMS', `rule '${intent.rule}' (${intent.file}), event ${intent.type}: ${problems.join('; ')}`, {
      rule: intent.rule,
      file: intent.file,
      type: intent.type,
      problems,
    });
  }
  return values as ParamValues<S>;
}
