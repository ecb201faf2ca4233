import type { RuleResult } from 'json-rules-engine';
import { EVENT_TYPES, type Intent } from '../facts.js';
import { factLabel } from './fact-source.js';
import type { LoadedRule, LoadedRuleSet } from './types.js';

/** A condition node of an evaluated rule, as json-rules-engine leaves it in RuleResult.conditions. */
interface EvaluatedNode {
  all?: EvaluatedNode[];
  any?: EvaluatedNode[];
  not?: EvaluatedNode;
  fact?: string;
  params?: Record<string, unknown>;
  factResult?: unknown;
  result?: boolean;
}

/**
 * The intents of one evaluation: one per event type emitted. When several rules emit the same
 * type, the intent's `rule` is the one with the highest priority (then the first in file order),
 * its params are that rule's, the others are listed in `also`, and `facts` holds the deciding
 * facts of all of them. Intents come in EVENT_TYPES order.
 */
export function intentsFrom(results: readonly RuleResult[], ruleSet: LoadedRuleSet, now: number): Intent[] {
  const byName = new Map(ruleSet.rules.map((r) => [r.name, r]));
  const fired = results
    .filter((r) => r.result === true)
    .map((r) => ({ rule: byName.get(r.name)!, facts: decidingFacts(r.conditions as EvaluatedNode) }))
    .sort((a, b) => b.rule.priority - a.rule.priority || a.rule.order - b.rule.order);

  const intents: Intent[] = [];
  for (const type of EVENT_TYPES) {
    const deciding = fired.filter((f) => f.rule.event.type === type);
    if (deciding.length === 0) continue;
    const [first, ...others] = deciding;
    const intent: Intent = {
      type,
      rule: first.rule.name,
      file: first.rule.file,
      params: { ...first.rule.event.params },
      facts: Object.assign({}, ...[...deciding].reverse().map((d) => d.facts)) as Record<string, unknown>,
      at: now,
    };
    if (others.length > 0) intent.also = others.map(({ rule }) => alsoEntry(rule));
    intents.push(intent);
  }
  return intents;
}

function alsoEntry(rule: LoadedRule): { rule: string; file: string; params: Record<string, unknown> } {
  return { rule: rule.name, file: rule.file, params: { ...rule.event.params } };
}

/**
 * The facts that decided a fired rule, keyed by factLabel: the comparisons that held where the
 * rule needed them to hold (every child of an `all`, the true children of an `any`) and failed
 * where it needed them to fail (under a `not`). Comparisons the engine skipped are left out.
 */
export function decidingFacts(root: EvaluatedNode): Record<string, unknown> {
  const facts: Record<string, unknown> = {};
  const visit = (node: EvaluatedNode, wanted: boolean): void => {
    if (node.all) {
      for (const child of node.all) if (wanted || child.result === false) visit(child, wanted);
    } else if (node.any) {
      for (const child of node.any) if (!wanted || child.result === true) visit(child, wanted);
    } else if (node.not) {
      visit(node.not, !wanted);
    } else if (node.fact !== undefined && node.result === wanted) {
      facts[factLabel(node.fact, node.params)] = node.factResult ?? null;
    }
  };
  visit(root, true);
  return facts;
}
