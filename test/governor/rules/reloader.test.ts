import { mkdtemp, rm, unlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Blackboard } from '../../../governor/blackboard.js';
import { VirtualClock } from '../../../governor/virtual-clock.js';
import { RuleRunner } from '../../../governor/rules/engine.js';
import { RuleReloader } from '../../../governor/rules/reloader.js';

/** A rule file with one rule emitting `type` while fleet.size >= `min`. */
function ruleFile(name: string, type: string, min = 1): string {
  return JSON.stringify({ rules: [{ name, conditions: { all: [{ fact: 'fleet.size', operator: 'greaterThanInclusive', value: min }] }, event: { type } }] });
}

let clock: VirtualClock;
let blackboard: Blackboard;
let dir: string;
let runner: RuleRunner;
let reloader: RuleReloader;

beforeEach(async () => {
  clock = new VirtualClock();
  blackboard = new Blackboard(clock);
  blackboard.set('fleet.size', 2);
  dir = await mkdtemp(join(tmpdir(), 'governor-reload-'));
  runner = new RuleRunner();
  reloader = new RuleReloader(dir, runner);
});
afterEach(async () => {
  clock.uninstall();
  await rm(dir, { recursive: true, force: true });
});

const fired = async () => (await runner.evaluate(blackboard, clock.now())).map((i) => `${i.type}:${i.rule}`);

describe('RuleReloader', () => {
  it('loads the set on the first refresh, then only when the listing changes', async () => {
    await writeFile(join(dir, 'a.json'), ruleFile('a', 'hold'));
    expect(await reloader.refresh(clock.now())).toEqual({ at: clock.now(), ok: true, files: ['a.json'], errors: [] });
    expect(await fired()).toEqual(['hold:a']);
    await clock.advance(5000);
    expect(await reloader.refresh(clock.now())).toBeUndefined();
  });

  it('picks up an added file, a changed file and a removed file', async () => {
    await writeFile(join(dir, 'a.json'), ruleFile('a', 'hold'));
    await reloader.refresh(clock.now());

    await writeFile(join(dir, 'b.json'), ruleFile('b', 'scale-up'));
    expect((await reloader.refresh(clock.now()))?.files).toEqual(['a.json', 'b.json']);
    expect(await fired()).toEqual(['scale-up:b', 'hold:a']);

    await writeFile(join(dir, 'b.json'), ruleFile('b-changed', 'scale-down'));
    expect((await reloader.refresh(clock.now()))?.ok).toBe(true);
    expect(await fired()).toEqual(['scale-down:b-changed', 'hold:a']);

    await unlink(join(dir, 'a.json'));
    expect((await reloader.refresh(clock.now()))?.files).toEqual(['b.json']);
    expect(await fired()).toEqual(['scale-down:b-changed']);
  });

  it('sees an edit that keeps the size through the modification time', async () => {
    await writeFile(join(dir, 'a.json'), ruleFile('a', 'hold', 1));
    await reloader.refresh(clock.now());
    await writeFile(join(dir, 'a.json'), ruleFile('a', 'hold', 3));
    const later = new Date(Date.UTC(2030, 0, 1));
    await utimes(join(dir, 'a.json'), later, later);
    expect((await reloader.refresh(clock.now()))?.ok).toBe(true);
    expect(await fired()).toEqual([]);
  });

  it('rejects a bad set once, keeps the last good one, and loads the fix', async () => {
    await writeFile(join(dir, 'a.json'), ruleFile('a', 'hold'));
    await reloader.refresh(clock.now());
    const good = runner.ruleSet;

    await writeFile(join(dir, 'b.json'), ruleFile('a', 'scale-up')); // duplicate rule name
    const rejected = await reloader.refresh(clock.now());
    expect(rejected?.ok).toBe(false);
    expect(rejected?.errors).toEqual([expect.objectContaining({ file: 'b.json', path: '$.rules[0].name' })]);
    expect(runner.ruleSet).toBe(good);
    expect(await reloader.refresh(clock.now())).toBeUndefined();
    expect(await fired()).toEqual(['hold:a']);

    await writeFile(join(dir, 'b.json'), ruleFile('b', 'scale-up'));
    expect((await reloader.refresh(clock.now()))?.ok).toBe(true);
    expect(await fired()).toEqual(['scale-up:b', 'hold:a']);
  });

  it('rejects a directory that disappears or empties, keeping the last good set', async () => {
    await writeFile(join(dir, 'a.json'), ruleFile('a', 'hold'));
    await reloader.refresh(clock.now());
    await unlink(join(dir, 'a.json'));
    expect(await reloader.refresh(clock.now())).toMatchObject({ ok: false, files: [], errors: [{ file: dir, message: 'no rule files' }] });
    await rm(dir, { recursive: true });
    expect(await reloader.refresh(clock.now())).toMatchObject({ ok: false, errors: [{ file: dir, message: expect.stringMatching(/ENOENT/) }] });
    expect(await reloader.refresh(clock.now())).toBeUndefined();
    expect(await fired()).toEqual(['hold:a']);
  });
});
