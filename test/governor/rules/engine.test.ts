import { join } from 'node:path';
import { Engine } from 'json-rules-engine';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Blackboard } from '../../../governor/blackboard.js';
import { VirtualClock } from '../../../governor/virtual-clock.js';
import { RuleRunner } from '../../../governor/rules/engine.js';
import type { LoadedRuleSet } from '../../../governor/rules/types.js';
import { formatRuleErrors, validateRuleDir, validateRuleFiles } from '../../../governor/rules/validate.js';

const DEFAULT_RULES = join(import.meta.dirname, '../../../rules');
const GOOD_FIXTURE = join(import.meta.dirname, '../../fixtures/rules-good');

async function loadDir(dir: string): Promise<LoadedRuleSet> {
  const result = await validateRuleDir(dir);
  if (!result.ruleSet) throw new Error(formatRuleErrors(result.errors));
  return result.ruleSet;
}

async function loadRules(rules: unknown[]): Promise<LoadedRuleSet> {
  const result = await validateRuleFiles([{ file: 'test.json', text: JSON.stringify({ rules }) }]);
  if (!result.ruleSet) throw new Error(formatRuleErrors(result.errors));
  return result.ruleSet;
}

const sizeAtLeast = (value: number) => ({ all: [{ fact: 'fleet.size', operator: 'greaterThanInclusive', value }] });

let clock: VirtualClock;
let blackboard: Blackboard;
beforeEach(() => {
  clock = new VirtualClock();
  blackboard = new Blackboard(clock);
});
afterEach(() => clock.uninstall());

/** Pushes `value` to `series` once a second for the next `seconds` seconds (advancing the clock). */
async function hold(series: string, value: number, seconds: number): Promise<void> {
  for (let i = 0; i < seconds; i++) {
    await clock.advance(1000);
    blackboard.series(series).push(value);
  }
}

describe('default rules', () => {
  let runner: RuleRunner;
  beforeEach(async () => {
    runner = new RuleRunner(await loadDir(DEFAULT_RULES));
  });
  const types = async () => (await runner.evaluate(blackboard, clock.now())).map((i) => i.type);

  it('emit nothing on an empty blackboard, without throwing', async () => {
    expect(await runner.evaluate(blackboard, clock.now())).toEqual([]);
  });

  it("Edge80's rule: scale-up after 5 minutes over 50% busy, not a second before", async () => {
    blackboard.series('fleet.busy').push(0.3);
    await hold('fleet.busy', 0.55, 299);
    expect(await types()).toEqual([]);
    await hold('fleet.busy', 0.55, 1);
    const [intent] = await runner.evaluate(blackboard, clock.now());
    expect(intent).toEqual({
      type: 'scale-up',
      rule: 'scale-up-busy',
      file: 'scale-up-busy.json',
      params: {},
      facts: { 'secondsAbove(fleet.busy,0.5)': 300 },
      at: clock.now(),
    });
  });

  it("Edge80's rule: scale-up after 1 minute over 65% busy, not a second before", async () => {
    blackboard.series('fleet.busy').push(0.3);
    await hold('fleet.busy', 0.7, 59);
    expect(await types()).toEqual([]);
    await hold('fleet.busy', 0.7, 1);
    const [intent] = await runner.evaluate(blackboard, clock.now());
    expect(intent.rule).toBe('scale-up-busy');
    // Only the comparison that held decided it; the 5-minute one (60 s so far) did not.
    expect(intent.facts).toEqual({ 'secondsAbove(fleet.busy,0.65)': 60 });
  });

  it('a dip under 50% restarts the 5 minutes', async () => {
    blackboard.series('fleet.busy').push(0.55);
    await hold('fleet.busy', 0.55, 200);
    await hold('fleet.busy', 0.45, 1);
    await hold('fleet.busy', 0.55, 200);
    expect(await types()).toEqual([]);
    await hold('fleet.busy', 0.55, 100);
    expect(await types()).toEqual(['scale-up']);
  });

  it('scale-up on a long queue while busy, origin-slow on a long queue while idle', async () => {
    for (let i = 0; i < 60; i++) {
      blackboard.series('fleet.queueWaitP95Ms').push(150);
      blackboard.series('fleet.busy').push(0.45);
      await clock.advance(1000);
    }
    const busy = await runner.evaluate(blackboard, clock.now());
    expect(busy.map((i) => `${i.type}:${i.rule}`)).toEqual(['scale-up:scale-up-queue']);
    expect(busy[0].facts).toEqual({ 'window(fleet.queueWaitP95Ms,avg,60s)': 150, 'window(fleet.busy,avg,60s)': expect.closeTo(0.45) });

    for (let i = 0; i < 60; i++) {
      blackboard.series('fleet.queueWaitP95Ms').push(150);
      blackboard.series('fleet.busy').push(0.1);
      await clock.advance(1000);
    }
    const idle = await runner.evaluate(blackboard, clock.now());
    expect(idle.map((i) => `${i.type}:${i.rule}`)).toEqual(['origin-slow:origin-slow']);
  });

  it('scale-down after 10 minutes under 45% per instance, only with more than one instance', async () => {
    blackboard.set('fleet.size', 1);
    blackboard.series('fleet.busyIfOneLess').push(0.2);
    await hold('fleet.busyIfOneLess', 0.2, 599);
    blackboard.set('fleet.size', 2);
    expect(await types()).toEqual([]);
    blackboard.set('fleet.size', 1);
    await hold('fleet.busyIfOneLess', 0.2, 1);
    expect(await types()).toEqual([]);
    blackboard.set('fleet.size', 2);
    const [intent] = await runner.evaluate(blackboard, clock.now());
    expect(intent.type).toBe('scale-down');
    expect(intent.facts).toEqual({ 'secondsBelow(fleet.busyIfOneLess,0.45)': 600, 'fleet.size': 2 });
  });
});

describe('RuleRunner', () => {
  it('merges rules emitting one type: the highest priority decides, the others are listed, all facts kept', async () => {
    const runner = new RuleRunner(await loadDir(GOOD_FIXTURE));
    blackboard.set('fleet.size', 3);
    blackboard.series('fleet.busy').push(0.9);
    const intents = await runner.evaluate(blackboard, clock.now());
    expect(intents).toEqual([
      {
        type: 'scale-up',
        rule: 'busy-scale-up',
        file: 'busy.json',
        params: { step: 1 },
        facts: { 'window(fleet.busy,avg,60s)': 0.9, 'control.paused': null, 'fleet.size': 3 },
        at: clock.now(),
        also: [{ rule: 'big-fleet-busy', file: 'hold.json', params: { step: 2 } }],
      },
    ]);
  });

  it('records the facts that failed under a "not" as deciding', async () => {
    const runner = new RuleRunner(await loadDir(GOOD_FIXTURE));
    blackboard.set('control.paused', true);
    const intents = await runner.evaluate(blackboard, clock.now());
    expect(intents.map((i) => [i.rule, i.facts])).toEqual([['hold-while-paused', { 'control.paused': true }]]);
  });

  it('orders same-priority rules by file order, and ties nothing to evaluation timing', async () => {
    const runner = new RuleRunner(
      await loadRules([
        { name: 'first', conditions: sizeAtLeast(1), event: { type: 'hold', params: { n: 1 } } },
        { name: 'second', conditions: sizeAtLeast(2), event: { type: 'hold' } },
        { name: 'urgent', priority: 9, conditions: sizeAtLeast(3), event: { type: 'hold' } },
      ]),
    );
    blackboard.set('fleet.size', 2);
    const [two] = await runner.evaluate(blackboard, clock.now());
    expect([two.rule, two.also?.map((a) => a.rule)]).toEqual(['first', ['second']]);
    blackboard.set('fleet.size', 3);
    const [three] = await runner.evaluate(blackboard, clock.now());
    expect([three.rule, three.also?.map((a) => a.rule)]).toEqual(['urgent', ['first', 'second']]);
  });

  it('treats missing and non-numeric values as null: comparisons are false, nothing throws', async () => {
    const runner = new RuleRunner(
      await loadRules([
        { name: 'size', conditions: { any: [{ fact: 'fleet.size', operator: 'lessThan', value: 5 }] }, event: { type: 'hold' } },
        {
          name: 'p99',
          conditions: { all: [{ fact: 'window', params: { series: 'rps', seconds: 10, stat: 'p99' }, operator: 'greaterThanInclusive', value: 0 }] },
          event: { type: 'restart-worker' },
        },
      ]),
    );
    expect(await runner.evaluate(blackboard, clock.now())).toEqual([]);
    blackboard.set('fleet.size', 'three');
    expect(await runner.evaluate(blackboard, clock.now())).toEqual([]);
    expect(blackboard.seriesNames()).toEqual([]); // reading a fact never creates a series
  });

  it('computes each fact once per evaluation, so every rule of a run sees the same value', async () => {
    const busyAbove = (type: string, value: number) => ({
      name: type,
      conditions: { all: [{ fact: 'window', params: { series: 'fleet.busy', seconds: 60, stat: 'p95' }, operator: 'greaterThan', value }] },
      event: { type },
    });
    const runner = new RuleRunner(await loadRules([busyAbove('hold', 0.1), busyAbove('scale-up', 0.2), busyAbove('origin-slow', 0.3)]));
    const series = blackboard.series('fleet.busy');
    series.push(0.5);
    let reads = 0;
    const percentile = series.percentile.bind(series);
    series.percentile = (p, seconds) => {
      reads++;
      return percentile(p, seconds);
    };
    expect((await runner.evaluate(blackboard, clock.now())).map((i) => i.type).sort()).toEqual(['hold', 'origin-slow', 'scale-up']);
    expect(reads).toBe(1);
    await runner.evaluate(blackboard, clock.now());
    expect(reads).toBe(2); // the next evaluation reads afresh
  });

  it('yields nothing before a set is loaded, and the new set after load', async () => {
    const runner = new RuleRunner();
    blackboard.set('fleet.size', 1);
    expect(await runner.evaluate(blackboard, clock.now())).toEqual([]);
    runner.load(await loadRules([{ name: 'one', conditions: sizeAtLeast(1), event: { type: 'hold' } }]));
    expect((await runner.evaluate(blackboard, clock.now())).map((i) => i.rule)).toEqual(['one']);
  });
});

describe('concurrent evaluation', () => {
  /** Rules in four priority tiers, all true when fleet.size >= 1. */
  const tiers = () =>
    loadRules(
      ['scale-up', 'hold', 'origin-slow', 'restart-worker'].map((type, i) => ({
        name: `tier-${i}`,
        priority: 4 - i,
        conditions: sizeAtLeast(1),
        event: { type },
      })),
    );

  /** Starts `count` runs, each a few microtasks after the previous, so their tiers interleave. */
  async function staggered<T>(count: number, start: () => Promise<T>): Promise<T[]> {
    const runs: Promise<T>[] = [];
    for (let i = 0; i < count; i++) {
      runs.push(start());
      for (let k = 0; k < i % 7; k++) await Promise.resolve();
    }
    return Promise.all(runs);
  }

  it('the staggered pattern makes a bare json-rules-engine Engine skip tiers (why RuleRunner queues)', async () => {
    const engine = new Engine();
    for (const rule of (await tiers()).rules) {
      engine.addRule({ name: rule.name, priority: rule.priority, conditions: sizeAtLeast(1), event: rule.event });
    }
    const results = await staggered(30, () => engine.run({ 'fleet.size': 1 }));
    expect(results.some((r) => r.events.length < 4)).toBe(true);
  });

  it('many evaluate() calls at once each give the complete result', async () => {
    const runner = new RuleRunner(await tiers());
    blackboard.set('fleet.size', 1);
    const results = await staggered(30, () => runner.evaluate(blackboard, clock.now()));
    for (const intents of results) {
      expect(intents.map((i) => i.rule)).toEqual(['tier-0', 'tier-1', 'tier-2', 'tier-3']);
    }
  });

  it('a load during queued evaluations applies from the next evaluation on, whole', async () => {
    const runner = new RuleRunner(await tiers());
    blackboard.set('fleet.size', 1);
    const replacement = await loadRules([{ name: 'only', conditions: sizeAtLeast(1), event: { type: 'hold' } }]);
    const before = runner.evaluate(blackboard, clock.now());
    runner.load(replacement);
    const after = runner.evaluate(blackboard, clock.now());
    const [first, second] = await Promise.all([before, after]);
    // `before` was queued first but takes the set active at its turn: the replacement, whole.
    expect(first.map((i) => i.rule)).toEqual(['only']);
    expect(second.map((i) => i.rule)).toEqual(['only']);
  });
});
