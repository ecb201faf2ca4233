import { Engine } from 'json-rules-engine';
import { describe, expect, it } from 'vitest';
import { ALL_SERIES, EVENT_TYPES, PLAIN_FACTS, WINDOW_FACTS, WINDOW_STATS } from '../../../governor/facts.js';
import { RULE_OPERATORS } from '../../../governor/rules/operators.js';
import { ruleSchema } from '../../../governor/rules/schema.js';

describe('rule schema', () => {
  // rules/rule.schema.json is ruleSchema written out; after changing the catalog or the schema,
  // refresh it with: npx vitest run test/governor/rules/schema.test.ts -u
  it('ships as rules/rule.schema.json, equal to the schema the validator uses', async () => {
    await expect(`${JSON.stringify(ruleSchema, null, 2)}\n`).toMatchFileSnapshot('../../../rules/rule.schema.json');
  });

  it('offers the catalog to editors: event types, facts, operators, series and stats', () => {
    const { rule, conditionNode } = ruleSchema.definitions;
    expect(rule.properties.event.properties.type.enum).toEqual([...EVENT_TYPES]);
    expect(conditionNode.properties.fact.examples).toEqual([...Object.values(PLAIN_FACTS), ...WINDOW_FACTS]);
    expect(conditionNode.properties.operator.examples).toEqual([...RULE_OPERATORS]);
    expect(conditionNode.properties.params.properties.series.examples).toEqual([...ALL_SERIES]);
    expect(conditionNode.properties.params.properties.stat.examples).toEqual([...WINDOW_STATS]);
  });

  it('lists exactly the operators json-rules-engine has', () => {
    const engine = new Engine() as unknown as { operators: { operators: Map<string, unknown> } };
    expect([...engine.operators.operators.keys()].sort()).toEqual([...RULE_OPERATORS].sort());
  });
});
