import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Blackboard } from '../../../governor/blackboard.js';
import { VirtualClock } from '../../../governor/virtual-clock.js';
import { RuleRunner } from '../../../governor/rules/engine.js';
import { RuleReloader } from '../../../governor/rules/reloader.js';
import { formatRuleErrors, MAX_RULE_FILE_BYTES, validateRuleDir, validateRuleFiles } from '../../../governor/rules/validate.js';

const DEFAULT_RULES = join(import.meta.dirname, '../../../rules');
const GOOD_FIXTURE = join(import.meta.dirname, '../../fixtures/rules-good');

/** A good file every malformed case is validated beside; it fires while fleet.size >= 2. */
const GOOD_FILE = {
  file: 'a-good.json',
  text: JSON.stringify({
    conditions: { 'two-or-more': { all: [{ fact: 'fleet.size', operator: 'greaterThanInclusive', value: 2 }] } },
    rules: [{ name: 'good', conditions: { condition: 'two-or-more' }, event: { type: 'hold' } }],
  }),
};

/** A rule file whose single rule has these conditions (and any extra rule properties). */
function ruleFile(conditions: unknown, extra: Record<string, unknown> = {}, name = 'bad'): string {
  return JSON.stringify({ rules: [{ name, conditions, event: { type: 'hold' }, ...extra }] }, null, 2);
}

/** A rule file whose rule is all-of this one comparison. */
function comparison(condition: unknown): string {
  return ruleFile({ all: [condition] });
}

const busyWindow = (params: Record<string, unknown>) => ({ fact: 'window', params, operator: 'greaterThan', value: 0.5 });

interface MalformedCase {
  what: string;
  text: string;
  /** JSON path of the (first) expected error in z-bad.json. */
  path: string;
  message: RegExp;
}

const MALFORMED: MalformedCase[] = [
  { what: 'trailing comma', text: '{"rules": [],}', path: '$', message: /JSON syntax: unexpected '}' at line 1, column 14/ },
  { what: 'unquoted string', text: '{"rules": [{"name": "x", "event": {type: scale-up}}]}', path: '$.rules[0].event', message: /JSON syntax: unexpected 't' at line 1, column 36/ },
  { what: 'truncated file', text: '{\n  "rules": [\n    {"name": "x"', path: '$.rules[0]', message: /JSON syntax: unexpected end of file at line 3, column 17/ },
  { what: 'misspelled literal', text: '{"rules": [{"name": "x", "priority": tru}]}', path: '$.rules[0].priority', message: /unquoted word 'tru'/ },
  {
    what: 'property given twice',
    text: '{"rules": [{"name": "x", "conditions": {"all": []}, "conditions": {"any": []}, "event": {"type": "hold"}}]}',
    path: '$.rules[0].conditions',
    message: /property "conditions" appears twice/,
  },
  { what: 'empty file', text: '', path: '$', message: /unexpected end of file at line 1, column 1/ },
  { what: 'array root', text: '[]', path: '$', message: /an array where an object belongs/ },
  { what: 'string root', text: '"rules"', path: '$', message: /string "rules" where an object belongs/ },
  { what: 'no rules', text: '{"description": "nothing"}', path: '$', message: /missing property 'rules'/ },
  { what: 'empty rules array', text: '{"rules": []}', path: '$.rules', message: /needs at least 1 item/ },
  { what: 'misspelled root property', text: '{"rule": [], "rules": [{"name": "x", "conditions": {"all": []}, "event": {"type": "hold"}}]}', path: '$.rule', message: /unknown property 'rule' \(did you mean 'rules'\?\)/ },
  { what: 'missing event', text: '{"rules": [{"name": "x", "conditions": {"all": []}}]}', path: '$.rules[0]', message: /missing property 'event'/ },
  { what: 'unknown event type', text: ruleFile({ all: [] }).replace('"hold"', '"scale-sideways"'), path: '$.rules[0].event.type', message: /"scale-sideways" is not allowed/ },
  { what: 'event params not an object', text: '{"rules": [{"name": "x", "conditions": {"all": []}, "event": {"type": "hold", "params": 3}}]}', path: '$.rules[0].event.params', message: /number 3 where an object belongs/ },
  { what: 'rule name not a string', text: '{"rules": [{"name": 7, "conditions": {"all": []}, "event": {"type": "hold"}}]}', path: '$.rules[0].name', message: /number 7 where a string belongs/ },
  { what: 'priority zero', text: ruleFile({ all: [] }, { priority: 0 }), path: '$.rules[0].priority', message: /0 is below the minimum/ },
  { what: 'priority a word', text: ruleFile({ all: [] }, { priority: 'high' }), path: '$.rules[0].priority', message: /string "high" where an integer belongs/ },
  { what: 'comparison at the root', text: ruleFile({ fact: 'fleet.size', operator: 'equal', value: 1 }), path: '$.rules[0].conditions', message: /start with all, any, not or condition/ },
  { what: 'mixed condition shapes', text: comparison({ all: [], fact: 'fleet.size', operator: 'equal', value: 1 }), path: '$.rules[0].conditions.all[0]', message: /mixes 'all' and 'fact\/operator\/value'/ },
  { what: 'comparison without value', text: comparison({ fact: 'fleet.size', operator: 'equal' }), path: '$.rules[0].conditions.all[0]', message: /comparison is missing 'value'/ },
  { what: '"all" not an array', text: ruleFile({ all: { fact: 'fleet.size' } }), path: '$.rules[0].conditions.all', message: /an object where an array belongs/ },
  { what: 'unknown fact', text: comparison({ fact: 'fleet.sise', operator: 'equal', value: 1 }), path: '$.rules[0].conditions.all[0].fact', message: /unknown fact 'fleet.sise' \(did you mean 'fleet.size'\?\)/ },
  { what: 'unknown operator', text: comparison({ fact: 'fleet.size', operator: 'greaterThen', value: 1 }), path: '$.rules[0].conditions.all[0].operator', message: /unknown operator 'greaterThen' \(did you mean 'greaterThan'\?\)/ },
  { what: 'number operator on a string', text: comparison({ fact: 'fleet.size', operator: 'greaterThan', value: '1' }), path: '$.rules[0].conditions.all[0].value', message: /greaterThan needs a number, got "1"/ },
  { what: 'boolean fact equal to a string', text: comparison({ fact: 'control.paused', operator: 'equal', value: 'true' }), path: '$.rules[0].conditions.all[0].value', message: /'control.paused' is a boolean/ },
  { what: 'number operator on a boolean fact', text: comparison({ fact: 'control.paused', operator: 'lessThan', value: 1 }), path: '$.rules[0].conditions.all[0].operator', message: /compares numbers; fact 'control.paused' is a boolean/ },
  { what: '"in" without a list', text: comparison({ fact: 'fleet.size', operator: 'in', value: 3 }), path: '$.rules[0].conditions.all[0].value', message: /in needs a list, got 3/ },
  { what: '"contains" on a number fact', text: comparison({ fact: 'fleet.size', operator: 'contains', value: 3 }), path: '$.rules[0].conditions.all[0].operator', message: /needs a list-valued fact/ },
  { what: 'unknown series', text: comparison(busyWindow({ series: 'fleet.bsy', seconds: 60, stat: 'avg' })), path: '$.rules[0].conditions.all[0].params.series', message: /unknown series "fleet.bsy" \(did you mean 'fleet.busy'\?\)/ },
  { what: 'window of 0 seconds', text: comparison(busyWindow({ series: 'fleet.busy', seconds: 0, stat: 'avg' })), path: '$.rules[0].conditions.all[0].params.seconds', message: /window length 0 is not a whole number of seconds from 1 to 3600/ },
  { what: 'window over an hour', text: comparison(busyWindow({ series: 'fleet.busy', seconds: 3601, stat: 'avg' })), path: '$.rules[0].conditions.all[0].params.seconds', message: /window length 3601/ },
  { what: 'fractional window', text: comparison(busyWindow({ series: 'fleet.busy', seconds: 1.5, stat: 'avg' })), path: '$.rules[0].conditions.all[0].params.seconds', message: /window length 1.5/ },
  { what: 'unknown stat', text: comparison(busyWindow({ series: 'fleet.busy', seconds: 60, stat: 'median' })), path: '$.rules[0].conditions.all[0].params.stat', message: /unknown stat "median"/ },
  { what: 'window without params', text: comparison({ fact: 'window', operator: 'greaterThan', value: 1 }), path: '$.rules[0].conditions.all[0]', message: /fact 'window' needs "params"/ },
  { what: 'window param missing', text: comparison(busyWindow({ series: 'fleet.busy', seconds: 60 })), path: '$.rules[0].conditions.all[0].params', message: /fact 'window' needs param 'stat'/ },
  {
    what: 'threshold as a string',
    text: comparison({ fact: 'secondsAbove', params: { series: 'fleet.busy', threshold: '0.5' }, operator: 'greaterThan', value: 60 }),
    path: '$.rules[0].conditions.all[0].params.threshold',
    message: /threshold "0.5" is not a number/,
  },
  {
    what: 'param a fact does not take',
    text: comparison({ fact: 'secondsBelow', params: { series: 'fleet.busy', threshold: 0.3, seconds: 60 }, operator: 'greaterThan', value: 60 }),
    path: '$.rules[0].conditions.all[0].params.seconds',
    message: /unknown param 'seconds' for fact 'secondsBelow'/,
  },
  { what: 'params on a plain fact', text: comparison({ fact: 'fleet.size', params: { series: 'busy' }, operator: 'equal', value: 1 }), path: '$.rules[0].conditions.all[0].params', message: /fact 'fleet.size' takes no params/ },
  { what: 'path on a number fact', text: comparison({ fact: 'fleet.size', path: '$.x', operator: 'equal', value: 1 }), path: '$.rules[0].conditions.all[0].path', message: /'path' reads inside object-valued facts/ },
  { what: 'dangling condition reference', text: comparison({ condition: 'two-or-mroe' }), path: '$.rules[0].conditions.all[0].condition', message: /undefined shared condition 'two-or-mroe' \(did you mean 'two-or-more'\?\)/ },
  {
    what: 'circular shared conditions',
    text: JSON.stringify({ conditions: { a: { all: [{ condition: 'b' }] }, b: { not: { condition: 'a' } } }, rules: [{ name: 'x', conditions: { condition: 'a' }, event: { type: 'hold' } }] }),
    path: '$.conditions.a',
    message: /shared condition 'a' refers back to itself: a -> b -> a/,
  },
  { what: 'shared condition defined twice', text: JSON.stringify({ conditions: { 'two-or-more': { all: [] } }, rules: [{ name: 'x', conditions: { all: [] }, event: { type: 'hold' } }] }), path: '$.conditions["two-or-more"]', message: /already defined in a-good.json at \$.conditions\["two-or-more"\]/ },
  { what: 'duplicate rule name across files', text: ruleFile({ all: [] }, {}, 'good'), path: '$.rules[0].name', message: /rule name 'good' is already used in a-good.json at \$.rules\[0\]/ },
  { what: 'huge file', text: JSON.stringify({ description: 'x'.repeat(MAX_RULE_FILE_BYTES), rules: [] }), path: '$', message: /over the 262144-byte limit/ },
  { what: 'nesting too deep', text: `{"rules": ${'['.repeat(70)}${']'.repeat(70)}}`, path: '$', message: /nesting deeper than 64 levels at line 1, column 74/ },
];

describe('validateRuleFiles', () => {
  it('accepts the default rules', async () => {
    const result = await validateRuleDir(DEFAULT_RULES);
    expect(result.errors).toEqual([]);
    expect(result.ok).toBe(true);
    expect(result.ruleSet!.files).toEqual(['busy-loop.json', 'denial-of-service.json', 'origin-slow.json', 'scale-down.json', 'scale-up-busy.json', 'scale-up-queue.json']);
    expect(result.ruleSet!.rules.map((r) => [r.name, r.event.type])).toEqual([
      ['busy-loop', 'restart-worker'],
      ['busy-loop-hold', 'hold'],
      ['denial-of-service', 'block-client'],
      ['denial-of-service-hold', 'hold'],
      ['origin-slow', 'origin-slow'],
      ['scale-down', 'scale-down'],
      ['scale-up-busy', 'scale-up'],
      ['scale-up-queue', 'scale-up'],
    ]);
  });

  it('accepts shared conditions used across files', async () => {
    const result = await validateRuleDir(GOOD_FIXTURE);
    expect(result.errors).toEqual([]);
    expect(result.ruleSet!.conditions).toEqual(['fleet-busy', 'not-paused']);
    expect(result.ruleSet!.rules.map((r) => `${r.file}:${r.name}:${r.priority}`)).toEqual([
      'busy.json:busy-scale-up:5',
      'hold.json:hold-while-paused:1',
      'hold.json:big-fleet-busy:1',
    ]);
  });

  it.each(MALFORMED)('rejects $what with the file and JSON path', async ({ text, path, message }) => {
    const result = await validateRuleFiles([GOOD_FILE, { file: 'z-bad.json', text }]);
    expect(result.ok).toBe(false);
    expect(result.ruleSet).toBeUndefined();
    const error = result.errors.find((e) => e.path === path);
    expect(error, formatRuleErrors(result.errors)).toBeDefined();
    expect(error!.file).toBe('z-bad.json');
    expect(error!.message).toMatch(message);
    expect(error!.expected.length).toBeGreaterThan(0);
    expect(result.errors.every((e) => e.file === 'z-bad.json'), formatRuleErrors(result.errors)).toBe(true);
  });

  it('reports every error of every file in one pass', async () => {
    const text = JSON.stringify({
      rules: [
        { name: 'one', conditions: { all: [{ fact: 'fleet.sise', operator: 'greaterThen', value: 1 }] }, event: { type: 'scale-sideways' } },
        { name: 'two', conditions: { any: [busyWindow({ series: 'nope', seconds: 0, stat: 'mean' }), { condition: 'missing' }] }, event: { type: 'hold' } },
      ],
    });
    const result = await validateRuleFiles([{ file: 'many.json', text }, { file: 'syntax.json', text: '{' }]);
    expect(
      result.errors.map((e) => `${e.file}:${e.path}`).sort(),
      formatRuleErrors(result.errors),
    ).toEqual(
      [
        'many.json:$.rules[0].event.type',
        'many.json:$.rules[0].conditions.all[0].fact',
        'many.json:$.rules[0].conditions.all[0].operator',
        'many.json:$.rules[1].conditions.any[0].params.series',
        'many.json:$.rules[1].conditions.any[0].params.seconds',
        'many.json:$.rules[1].conditions.any[0].params.stat',
        'many.json:$.rules[1].conditions.any[1].condition',
        'syntax.json:$',
      ].sort(),
    );
  });

  it('formats one line per error: file:path: message (expected ...)', () => {
    const line = formatRuleErrors([
      { file: 'a.json', path: '$.rules[0].operator', message: "unknown operator 'x'", expected: 'one of: equal' },
      { file: 'b.json', path: '$', message: 'no', expected: 'yes' },
    ]);
    expect(line).toBe("a.json:$.rules[0].operator: unknown operator 'x' (expected one of: equal)\nb.json:$: no (expected yes)");
  });
});

describe('validateRuleDir', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'governor-rules-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('rejects a missing directory and an empty one, naming the directory', async () => {
    const missing = await validateRuleDir(join(dir, 'nope'));
    expect(missing.errors).toEqual([expect.objectContaining({ file: join(dir, 'nope'), path: '$', message: expect.stringMatching(/cannot list the rule directory: .*ENOENT/) })]);
    const empty = await validateRuleDir(dir);
    expect(empty.errors).toEqual([expect.objectContaining({ file: dir, message: 'no rule files' })]);
  });

  it('ignores schema files, hidden files and other extensions', async () => {
    await writeFile(join(dir, 'rule.schema.json'), '{"not": "a rule"}');
    await writeFile(join(dir, '.#editor-lock.json'), 'garbage');
    await writeFile(join(dir, 'notes.txt'), 'garbage');
    await writeFile(join(dir, GOOD_FILE.file), GOOD_FILE.text);
    const result = await validateRuleDir(dir);
    expect(result.errors).toEqual([]);
    expect(result.ruleSet!.files).toEqual([GOOD_FILE.file]);
  });

  it('rejects an oversized file by its size, without parsing it', async () => {
    await writeFile(join(dir, 'big.json'), `{${' '.repeat(MAX_RULE_FILE_BYTES)}`);
    const result = await validateRuleDir(dir);
    expect(result.errors).toEqual([expect.objectContaining({ file: 'big.json', path: '$', message: expect.stringMatching(/over the 262144-byte limit/) })]);
  });
});

describe('a malformed file never replaces the last good set', () => {
  let clock: VirtualClock;
  let dir: string;
  beforeEach(async () => {
    clock = new VirtualClock();
    dir = await mkdtemp(join(tmpdir(), 'governor-rules-'));
  });
  afterEach(async () => {
    clock.uninstall();
    await rm(dir, { recursive: true, force: true });
  });

  it.each(MALFORMED)('$what: rejected, the good set stays active and keeps evaluating', async ({ text, path }) => {
    const runner = new RuleRunner();
    const reloader = new RuleReloader(dir, runner);
    const blackboard = new Blackboard(clock);
    blackboard.set('fleet.size', 3);
    await writeFile(join(dir, GOOD_FILE.file), GOOD_FILE.text);
    expect((await reloader.refresh(clock.now()))?.ok).toBe(true);
    const good = runner.ruleSet;

    await writeFile(join(dir, 'z-bad.json'), text);
    const outcome = await reloader.refresh(clock.now());
    expect(outcome?.ok).toBe(false);
    expect(outcome?.files).toEqual([GOOD_FILE.file, 'z-bad.json']);
    expect(outcome?.errors.some((e) => e.file === 'z-bad.json' && e.path === path)).toBe(true);
    expect(runner.ruleSet).toBe(good);
    const intents = await runner.evaluate(blackboard, clock.now());
    expect(intents.map((i) => `${i.type}:${i.rule}`)).toEqual(['hold:good']);
  });
});
