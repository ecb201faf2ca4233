import { ALL_SERIES, PLAIN_FACT_TYPES, WINDOW_FACTS, WINDOW_STATS } from '../facts.js';
import { jsonPath, type PathSegment } from './json-path.js';
import { OPERATOR_OPERAND, RULE_OPERATORS, isRuleOperator } from './operators.js';
import { didYouMean } from './suggest.js';
import type { ConditionNode, RuleError } from './types.js';

/** Longest window a rule may ask for (the series hold an hour at one sample per second). */
export const MAX_WINDOW_SECONDS = 3600;

type FactType = 'number' | 'boolean';
type Report = (path: PathSegment[], message: string, expected: string) => void;

/** A parsed rule file (any JSON value: the checks look only at what has the right shape). */
export interface ParsedDoc {
  file: string;
  doc: unknown;
}

/** Where a shared condition is defined. */
export interface SharedConditionSite {
  file: string;
  path: PathSegment[];
}

const PLAIN_FACT_NAMES = Object.keys(PLAIN_FACT_TYPES);
const ALL_FACT_NAMES = [...PLAIN_FACT_NAMES, ...WINDOW_FACTS];
const WINDOW_PARAMS: Record<(typeof WINDOW_FACTS)[number], readonly string[]> = {
  window: ['series', 'seconds', 'stat'],
  secondsAbove: ['series', 'threshold'],
  secondsBelow: ['series', 'threshold'],
};

/**
 * The shared conditions declared by any parsed file (so a schema error in one file does not
 * make every reference to its conditions dangling too), and an error for each name declared twice.
 */
export function collectSharedConditions(docs: readonly ParsedDoc[]): {
  sites: Map<string, SharedConditionSite>;
  errors: RuleError[];
} {
  const sites = new Map<string, SharedConditionSite>();
  const errors: RuleError[] = [];
  for (const { file, doc } of docs) {
    const conditions = isObject(doc) ? doc.conditions : undefined;
    if (!isObject(conditions)) continue;
    for (const name of Object.keys(conditions)) {
      const path: PathSegment[] = ['conditions', name];
      const first = sites.get(name);
      if (first) {
        errors.push({
          file,
          path: jsonPath(path),
          message: `shared condition '${name}' is already defined in ${first.file} at ${jsonPath(first.path)}`,
          expected: 'a condition name unique across all rule files',
        });
      } else sites.set(name, { file, path });
    }
  }
  return { sites, errors };
}

/**
 * Checks what the schema cannot: facts, operators, window parameters, value types, references
 * to shared conditions (defined, not circular) and rule names unique across the set. Runs on
 * every parsed file, schema-valid or not, skipping whatever lacks the shape a check needs (the
 * schema reports that), so one pass reports every problem.
 */
export function checkRuleSet(docs: readonly ParsedDoc[], shared: Map<string, SharedConditionSite>): RuleError[] {
  const errors: RuleError[] = [];
  const ruleNames = new Map<string, { file: string; path: PathSegment[] }>();
  const references = new Map<string, string[]>();

  for (const { file, doc } of docs) {
    if (!isObject(doc)) continue;
    const report: Report = (path, message, expected) => errors.push({ file, path: jsonPath(path), message, expected });
    if (isObject(doc.conditions)) {
      for (const [name, node] of Object.entries(doc.conditions)) {
        if (shared.get(name)?.file === file) references.set(name, checkTree(node, ['conditions', name], shared, report));
      }
    }
    const rules = Array.isArray(doc.rules) ? doc.rules : [];
    rules.forEach((rule: unknown, index) => {
      if (!isObject(rule)) return;
      checkTree(rule.conditions, ['rules', index, 'conditions'], shared, report);
      if (typeof rule.name !== 'string') return;
      const first = ruleNames.get(rule.name);
      if (first) {
        report(
          ['rules', index, 'name'],
          `rule name '${rule.name}' is already used in ${first.file} at ${jsonPath(first.path)}`,
          'a rule name unique across all rule files',
        );
      } else ruleNames.set(rule.name, { file, path: ['rules', index] });
    });
  }
  errors.push(...circularReferences(references, shared));
  return errors;
}

/** Checks every node under `root`; returns the shared conditions it refers to. */
function checkTree(root: unknown, rootPath: PathSegment[], shared: Map<string, SharedConditionSite>, report: Report): string[] {
  const referenced: string[] = [];
  const visit = (node: unknown, path: PathSegment[]): void => {
    if (!isObject(node)) return;
    if ('all' in node || 'any' in node) {
      for (const key of ['all', 'any'] as const) {
        const children = node[key];
        if (Array.isArray(children)) children.forEach((child, i) => visit(child, [...path, key, i]));
      }
    } else if ('not' in node) visit(node.not, [...path, 'not']);
    else if (typeof node.condition === 'string') {
      referenced.push(node.condition);
      if (!shared.has(node.condition)) {
        const names = [...shared.keys()];
        report(
          [...path, 'condition'],
          `undefined shared condition '${node.condition}'${didYouMean(node.condition, names)}`,
          names.length > 0 ? `one of: ${names.join(', ')}` : 'a name defined in a rule file\'s "conditions" section (none is defined)',
        );
      }
    } else if ('fact' in node || 'operator' in node) checkComparison(node as ConditionNode, path, report);
  };
  visit(root, rootPath);
  return referenced;
}

function checkComparison(node: ConditionNode, path: PathSegment[], report: Report): void {
  const { fact, operator } = node;
  const factType = typeof fact === 'string' ? checkFact(fact, node.params, path, report) : undefined;
  if (typeof operator !== 'string') return;
  if (!isRuleOperator(operator)) {
    report([...path, 'operator'], `unknown operator '${operator}'${didYouMean(operator, RULE_OPERATORS)}`, `one of: ${RULE_OPERATORS.join(', ')}`);
    return;
  }
  if (factType === undefined) return;
  if (node.path !== undefined) {
    report([...path, 'path'], `'path' reads inside object-valued facts; fact '${fact}' is a ${factType}`, 'no "path"');
  }
  if ('value' in node) checkOperand(operator, factType, node.value, fact!, path, report);
}

/** Checks the fact name and its params; returns the fact's value type when the fact is known. */
function checkFact(fact: string, params: unknown, path: PathSegment[], report: Report): FactType | undefined {
  if (Object.hasOwn(PLAIN_FACT_TYPES, fact)) {
    if (params !== undefined) report([...path, 'params'], `fact '${fact}' takes no params`, 'no "params"');
    return PLAIN_FACT_TYPES[fact as keyof typeof PLAIN_FACT_TYPES];
  }
  if (!(WINDOW_FACTS as readonly string[]).includes(fact)) {
    report([...path, 'fact'], `unknown fact '${fact}'${didYouMean(fact, ALL_FACT_NAMES)}`, `one of: ${ALL_FACT_NAMES.join(', ')}`);
    return undefined;
  }
  checkWindowParams(fact as (typeof WINDOW_FACTS)[number], params, path, report);
  return 'number';
}

function checkWindowParams(fact: (typeof WINDOW_FACTS)[number], params: unknown, path: PathSegment[], report: Report): void {
  const names = WINDOW_PARAMS[fact];
  if (params === undefined) {
    report(path, `fact '${fact}' needs "params"`, `"params": {${names.join(', ')}}`);
    return;
  }
  if (!isObject(params)) return;
  const at = (name: string): PathSegment[] => [...path, 'params', name];
  for (const name of Object.keys(params)) {
    if (!names.includes(name)) report(at(name), `unknown param '${name}' for fact '${fact}'`, `only: ${names.join(', ')}`);
  }
  for (const name of names) {
    if (params[name] === undefined) report([...path, 'params'], `fact '${fact}' needs param '${name}'`, `params: ${names.join(', ')}`);
  }
  const { series, seconds, stat, threshold } = params;
  if (series !== undefined && !(typeof series === 'string' && ALL_SERIES.includes(series))) {
    report(at('series'), `unknown series ${show(series)}${typeof series === 'string' ? didYouMean(series, ALL_SERIES) : ''}`, `one of: ${ALL_SERIES.join(', ')}`);
  }
  if (fact === 'window') {
    if (seconds !== undefined && !(Number.isInteger(seconds) && (seconds as number) >= 1 && (seconds as number) <= MAX_WINDOW_SECONDS)) {
      report(at('seconds'), `window length ${show(seconds)} is not a whole number of seconds from 1 to ${MAX_WINDOW_SECONDS}`, `an integer from 1 to ${MAX_WINDOW_SECONDS}`);
    }
    if (stat !== undefined && !(typeof stat === 'string' && (WINDOW_STATS as readonly string[]).includes(stat))) {
      report(at('stat'), `unknown stat ${show(stat)}`, `one of: ${WINDOW_STATS.join(', ')}`);
    }
  } else if (threshold !== undefined && !(typeof threshold === 'number' && Number.isFinite(threshold))) {
    report(at('threshold'), `threshold ${show(threshold)} is not a number`, 'a number in the series\' unit');
  }
}

/** Checks that `value` is something `operator` can compare a fact of `factType` with. */
function checkOperand(operator: keyof typeof OPERATOR_OPERAND, factType: FactType, value: unknown, fact: string, path: PathSegment[], report: Report): void {
  const valuePath = [...path, 'value'];
  switch (OPERATOR_OPERAND[operator]) {
    case 'ordered':
      if (factType !== 'number') {
        report([...path, 'operator'], `operator '${operator}' compares numbers; fact '${fact}' is a ${factType}`, 'equal, notEqual, in or notIn');
      } else if (typeof value !== 'number') {
        report(valuePath, `${operator} needs a number, got ${show(value)}`, 'a number');
      }
      return;
    case 'same':
      if (value !== null && typeof value !== factType) {
        report(valuePath, `fact '${fact}' is a ${factType}, so ${operator} ${show(value)} is never what it seems`, `a ${factType} (or null)`);
      }
      return;
    case 'list':
      if (!Array.isArray(value)) report(valuePath, `${operator} needs a list, got ${show(value)}`, `an array of ${factType}s`);
      else {
        value.forEach((item, i) => {
          if (typeof item !== factType) report([...valuePath, i], `fact '${fact}' is a ${factType}; ${show(item)} can never match`, `a ${factType}`);
        });
      }
      return;
    case 'member':
      report([...path, 'operator'], `operator '${operator}' needs a list-valued fact; fact '${fact}' is a ${factType}`, 'equal, notEqual, in, notIn or a comparison');
      return;
  }
}

/** An error for each shared condition that refers back to itself (the engine would recurse forever). */
function circularReferences(references: Map<string, string[]>, shared: Map<string, SharedConditionSite>): RuleError[] {
  const errors: RuleError[] = [];
  const done = new Set<string>();
  const stack: string[] = [];
  const visit = (name: string): void => {
    if (done.has(name)) return;
    const loopStart = stack.indexOf(name);
    if (loopStart !== -1) {
      const site = shared.get(name)!;
      const loop = [...stack.slice(loopStart), name];
      errors.push({
        file: site.file,
        path: jsonPath(site.path),
        message: `shared condition '${name}' refers back to itself: ${loop.join(' -> ')}`,
        expected: 'shared conditions that do not refer to themselves, directly or through others',
      });
      return;
    }
    stack.push(name);
    for (const next of references.get(name) ?? []) visit(next);
    stack.pop();
    done.add(name);
  };
  for (const name of references.keys()) visit(name);
  return errors;
}

function show(value: unknown): string {
  return value === undefined ? 'nothing' : JSON.stringify(value);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
