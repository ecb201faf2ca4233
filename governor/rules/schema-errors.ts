import type { ErrorObject } from 'ajv';
import { jsonPath, pointerSegments, type PathSegment } from './json-path.js';
import { CONDITION_SHAPES, ruleSchema } from './schema.js';
import { didYouMean } from './suggest.js';
import type { RuleError } from './types.js';

const SHAPE_KEYS = ['all', 'any', 'not', 'condition'] as const;
const COMPARISON_KEYS = ['fact', 'operator', 'value'] as const;

/**
 * Ajv's errors (options allErrors and verbose) as RuleErrors with JSON paths and plain messages.
 * A condition that fits none or several of its shapes gets one error saying which keys are
 * missing or mixed, instead of one error per shape it failed.
 */
export function describeSchemaErrors(file: string, doc: unknown, errors: readonly ErrorObject[]): RuleError[] {
  const shapeChecks = errors.filter((e) => e.keyword === 'oneOf');
  const isShapeBranch = (e: ErrorObject) =>
    shapeChecks.some((s) => s !== e && s.instancePath === e.instancePath && e.schemaPath.startsWith(`${s.schemaPath}/`));
  // A condition that is not an object gets a type error; its shape check says nothing more.
  const isShapeOfNonObject = (e: ErrorObject) => e.keyword === 'oneOf' && (e.data === null || typeof e.data !== 'object' || Array.isArray(e.data));
  return errors
    .filter((e) => !isShapeBranch(e) && !isShapeOfNonObject(e))
    .map((e) => {
      const segments = pointerSegments(e.instancePath, doc);
      const { at, message, expected } = e.keyword === 'oneOf' ? describeShape(e) : describe(e);
      return { file, path: jsonPath([...segments, ...at]), message, expected };
    });
}

interface Described {
  /** Segments below the error's instancePath (the offending property). */
  at: PathSegment[];
  message: string;
  expected: string;
}

function describe(e: ErrorObject): Described {
  const params = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'required':
      return { at: [], message: `missing property '${String(params.missingProperty)}'`, expected: `an object with '${String(params.missingProperty)}'` };
    case 'additionalProperties': {
      const known = Object.keys((e.parentSchema as { properties?: object } | undefined)?.properties ?? {});
      const name = String(params.additionalProperty);
      return { at: [name], message: `unknown property '${name}'${didYouMean(name, known)}`, expected: `only: ${known.join(', ')}` };
    }
    case 'type': {
      const types = String(params.type).split(',').map(withArticle).join(' or ');
      return { at: [], message: `${typeName(e.data)} where ${types} belongs`, expected: types };
    }
    case 'minimum':
      return { at: [], message: `${JSON.stringify(e.data)} is below the minimum`, expected: `at least ${String(params.limit)}` };
    case 'minLength':
      return { at: [], message: 'empty name', expected: 'a name of at least one character' };
    case 'maxLength':
      return { at: [], message: `longer than ${String(params.limit)} characters`, expected: `at most ${String(params.limit)} characters` };
    case 'pattern':
      return { at: [], message: `${JSON.stringify(e.data)} starts or ends with white space`, expected: 'a name without leading or trailing white space' };
    case 'enum':
      return {
        at: [],
        message: `${JSON.stringify(e.data)} is not allowed`,
        expected: `one of: ${(params.allowedValues as unknown[]).map((v) => String(v)).join(', ')}`,
      };
    case 'minItems':
      return { at: [], message: `needs at least ${String(params.limit)} item(s), has ${(e.data as unknown[]).length}`, expected: `at least ${String(params.limit)} item(s)` };
    default:
      return { at: [], message: e.message ?? e.keyword, expected: describeSchema(e) };
  }
}

/** One message for a condition whose keys fit none or several of its shapes. */
function describeShape(e: ErrorObject): Described {
  const isTop = e.parentSchema === ruleSchema.definitions.topCondition;
  const shape = CONDITION_SHAPES[isTop ? 'topCondition' : 'nestedCondition'];
  const node = e.data !== null && typeof e.data === 'object' ? (e.data as Record<string, unknown>) : {};
  const present = (key: string) => Object.hasOwn(node, key);
  const comparison = COMPARISON_KEYS.filter(present);
  const shapes = [...SHAPE_KEYS.filter(present), ...(comparison.length > 0 ? [comparison.join('/')] : [])];
  if (shapes.length > 1) {
    return { at: [], message: `mixes '${shapes.join("' and '")}' in one condition`, expected: shape };
  }
  if (comparison.length > 0 && isTop) {
    return {
      at: [],
      message: 'a rule\'s (or shared condition\'s) conditions start with all, any, not or condition, not a comparison',
      expected: 'the comparison wrapped in {"all": [ ... ]}',
    };
  }
  if (comparison.length > 0) {
    const missing = COMPARISON_KEYS.filter((k) => !present(k));
    return { at: [], message: `comparison is missing '${missing.join("' and '")}'`, expected: '"fact", "operator" and "value" together' };
  }
  return { at: [], message: 'condition has nothing to test', expected: shape };
}

function describeSchema(e: ErrorObject): string {
  return Object.entries(e.params as Record<string, unknown>)
    .map(([k, v]) => `${k} ${JSON.stringify(v)}`)
    .join(', ');
}

function withArticle(type: string): string {
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${JSON.stringify(value)}`;
}
