/**
 * The operators a rule may use: json-rules-engine's defaults (the project adds none; one added to
 * the engine must be listed here with its operand shape, or validation rejects it).
 */
export const RULE_OPERATORS = [
  'equal',
  'notEqual',
  'lessThan',
  'lessThanInclusive',
  'greaterThan',
  'greaterThanInclusive',
  'in',
  'notIn',
  'contains',
  'doesNotContain',
] as const;

export type RuleOperator = (typeof RULE_OPERATORS)[number];

/**
 * What each operator compares the fact with:
 * - `same`:    one value of the fact's type (or null)
 * - `ordered`: a number, and the fact must be a number
 * - `list`:    an array of values of the fact's type
 * - `member`:  one value, and the fact must be an array (no fact in the catalog is one)
 */
export const OPERATOR_OPERAND: Record<RuleOperator, 'same' | 'ordered' | 'list' | 'member'> = {
  equal: 'same',
  notEqual: 'same',
  lessThan: 'ordered',
  lessThanInclusive: 'ordered',
  greaterThan: 'ordered',
  greaterThanInclusive: 'ordered',
  in: 'list',
  notIn: 'list',
  contains: 'member',
  doesNotContain: 'member',
};

export function isRuleOperator(name: string): name is RuleOperator {
  return (RULE_OPERATORS as readonly string[]).includes(name);
}
