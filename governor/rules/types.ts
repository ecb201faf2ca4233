import type { Engine } from 'json-rules-engine';
import type { EventType } from '../facts.js';

/** One problem in a rule set. Validation reports every one it finds, never only the first. */
export interface RuleError {
  /** The rule file's name as given to the validator (a base name for a rule directory). */
  file: string;
  /** JSON path into the file, e.g. `$.rules[0].conditions.all[1].operator`; `$` for the whole file. */
  path: string;
  message: string;
  /** What would have been accepted there. */
  expected: string;
}

/** A rule of a validated set, as operators wrote it. */
export interface LoadedRule {
  file: string;
  /** Unique across the set. */
  name: string;
  description?: string;
  /** json-rules-engine priority: higher runs first (default 1). */
  priority: number;
  event: { type: EventType; params: Record<string, unknown> };
  /** Position of the rule in the set: files in name order, rules in file order. */
  order: number;
}

/**
 * A rule set that passed every check and a dry run. Immutable once built: a reload builds a
 * new one and swaps it in whole.
 */
export interface LoadedRuleSet {
  /** The files it was built from, in name order. */
  files: string[];
  rules: LoadedRule[];
  /** Names of the shared conditions (the files' `conditions` sections). */
  conditions: string[];
  /** Holds every rule and shared condition. Run it only through a RuleRunner (one run at a time). */
  engine: Engine;
}

export interface ValidationResult {
  ok: boolean;
  /** Present exactly when ok. */
  ruleSet?: LoadedRuleSet;
  errors: RuleError[];
}

/** A rule file's text to validate. */
export interface RuleFileText {
  file: string;
  text: string;
}

/** A condition node of a rule file (shape checked by the schema, meaning by ./checks.ts). */
export interface ConditionNode {
  all?: ConditionNode[];
  any?: ConditionNode[];
  not?: ConditionNode;
  /** A reference to a shared condition. */
  condition?: string;
  fact?: string;
  operator?: string;
  value?: unknown;
  params?: Record<string, unknown>;
  path?: string;
  name?: string;
  priority?: number;
}

export interface RuleDoc {
  name: string;
  description?: string;
  priority?: number;
  conditions: ConditionNode;
  event: { type: EventType; params?: Record<string, unknown> };
}

/** A rule file that passed the JSON Schema. */
export interface RuleFileDoc {
  $schema?: string;
  description?: string;
  conditions?: Record<string, ConditionNode>;
  rules: RuleDoc[];
}
