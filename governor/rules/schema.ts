import { ALL_SERIES, EVENT_TYPES, PLAIN_FACTS, WINDOW_FACTS, WINDOW_STATS } from '../facts.js';
import { RULE_OPERATORS } from './operators.js';

/** Longest rule or shared-condition name. */
export const MAX_NAME_LENGTH = 128;

/** Booleans that make a condition: each condition node has exactly one of these shapes. */
const SHAPES = {
  all: { required: ['all'] },
  any: { required: ['any'] },
  not: { required: ['not'] },
  condition: { required: ['condition'] },
  fact: { required: ['fact', 'operator', 'value'] },
} as const;

/**
 * The JSON Schema (draft-07) of a rule file, built from the fact catalog. rules/rule.schema.json
 * is this object written out (for editors: `"$schema": "./rule.schema.json"`); a test keeps the
 * two equal. The schema checks shape only; facts, operators, window parameters, value types and
 * condition references are checked by ./checks.ts with precise messages, so fact and operator
 * names are `examples` here (editor completion), not `enum`s.
 */
export const ruleSchema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  title: 'Governor rule file',
  description: 'Rules over the blackboard facts; each rule emits an event that becomes an intent (see docs: Rules).',
  type: 'object',
  required: ['rules'],
  additionalProperties: false,
  properties: {
    $schema: { type: 'string', description: 'Path of this schema, for editors: "./rule.schema.json".' },
    description: { type: 'string' },
    conditions: {
      type: 'object',
      description: 'Shared named conditions, usable from any rule of the set as {"condition": "<name>"}.',
      propertyNames: { $ref: '#/definitions/name' },
      additionalProperties: { $ref: '#/definitions/topCondition' },
    },
    rules: { type: 'array', minItems: 1, items: { $ref: '#/definitions/rule' } },
  },
  definitions: {
    name: { type: 'string', minLength: 1, maxLength: MAX_NAME_LENGTH, pattern: '^\\S(.*\\S)?$' },
    rule: {
      type: 'object',
      required: ['name', 'conditions', 'event'],
      additionalProperties: false,
      properties: {
        name: { $ref: '#/definitions/name', description: 'Unique across all rule files.' },
        description: { type: 'string' },
        priority: { type: 'integer', minimum: 1, description: 'Higher runs first (default 1).' },
        conditions: { $ref: '#/definitions/topCondition' },
        event: {
          type: 'object',
          required: ['type'],
          additionalProperties: false,
          properties: {
            type: { enum: [...EVENT_TYPES], description: 'Becomes the intent intents.<type>.' },
            params: { type: 'object', description: 'Copied into the intent.' },
          },
        },
      },
    },
    topCondition: {
      description: 'A rule\'s root: {"all": [...]}, {"any": [...]}, {"not": {...}} or {"condition": "<name>"}.',
      allOf: [{ $ref: '#/definitions/conditionNode' }],
      oneOf: [SHAPES.all, SHAPES.any, SHAPES.not, SHAPES.condition],
    },
    nestedCondition: {
      description: 'all / any / not / a condition reference, or a comparison {"fact", "operator", "value"}.',
      allOf: [{ $ref: '#/definitions/conditionNode' }],
      oneOf: [SHAPES.all, SHAPES.any, SHAPES.not, SHAPES.condition, SHAPES.fact],
    },
    conditionNode: {
      type: 'object',
      additionalProperties: false,
      properties: {
        all: { type: 'array', items: { $ref: '#/definitions/nestedCondition' } },
        any: { type: 'array', items: { $ref: '#/definitions/nestedCondition' } },
        not: { $ref: '#/definitions/nestedCondition' },
        condition: { $ref: '#/definitions/name', description: 'Name of a shared condition.' },
        fact: { type: 'string', examples: [...Object.values(PLAIN_FACTS), ...WINDOW_FACTS] },
        operator: { type: 'string', examples: [...RULE_OPERATORS] },
        value: {
          type: ['number', 'string', 'boolean', 'null', 'array'],
          description: 'What the fact is compared with (an array for in / notIn).',
        },
        params: {
          type: 'object',
          description: 'For window: {series, seconds, stat}; for secondsAbove / secondsBelow: {series, threshold}.',
          properties: {
            series: { examples: [...ALL_SERIES] },
            seconds: { description: 'Window length: a whole number of seconds, 1 to 3600.' },
            stat: { examples: [...WINDOW_STATS] },
            threshold: { description: 'A number, in the series\' unit.' },
          },
        },
        path: { type: 'string', description: 'JSONPath into an object-valued fact.' },
        name: { type: 'string' },
        priority: { type: 'integer', minimum: 1 },
      },
    },
  },
} as const;

/** The shape names of a condition, for messages ("exactly one of ..."). */
export const CONDITION_SHAPES = {
  topCondition: 'exactly one of "all", "any", "not", "condition"',
  nestedCondition: 'exactly one of "all", "any", "not", "condition", or "fact" with "operator" and "value"',
} as const;
