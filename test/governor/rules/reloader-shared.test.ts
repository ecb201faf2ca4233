import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RuleRunner } from '../../../governor/rules/engine.js';
import * as listing from '../../../governor/rules/listing.js';
import { RuleReloader } from '../../../governor/rules/reloader.js';

vi.mock('../../../governor/rules/listing.js', async (importOriginal) => {
  const original = await importOriginal<typeof listing>();
  return { ...original, listRuleFiles: vi.fn(original.listRuleFiles) };
});

function ruleFile(name: string, type: string): string {
  return JSON.stringify({ rules: [{ name, conditions: { all: [{ fact: 'fleet.size', operator: 'greaterThan', value: 0 }] }, event: { type } }] });
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'governor-reload-shared-'));
  vi.mocked(listing.listRuleFiles).mockClear();
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('RuleReloader listings shared within a process', () => {
  it('reloaders of one folder refreshing in the same clock second list it once; each still loads and sees changes', async () => {
    await writeFile(join(dir, 'a.json'), ruleFile('a', 'hold'));
    const reloaders = Array.from({ length: 20 }, () => new RuleReloader(dir, new RuleRunner()));
    const first = await Promise.all(reloaders.map((r) => r.refresh(0)));
    expect(first.every((o) => o?.ok === true && o.files.join() === 'a.json')).toBe(true);
    expect(listing.listRuleFiles).toHaveBeenCalledTimes(1);

    await writeFile(join(dir, 'b.json'), ruleFile('b', 'scale-up'));
    const second = await Promise.all(reloaders.map((r) => r.refresh(5000)));
    expect(second.every((o) => o?.files.join() === 'a.json,b.json')).toBe(true);
    expect(listing.listRuleFiles).toHaveBeenCalledTimes(2);

    // one after the other in one second: the second reloader reuses the first one's listing
    expect(await reloaders[0].refresh(10_000)).toBeUndefined();
    expect(await reloaders[1].refresh(10_999)).toBeUndefined();
    expect(listing.listRuleFiles).toHaveBeenCalledTimes(3);
    // a reloader refreshing again in the same second, or anyone in the next second, lists afresh
    await writeFile(join(dir, 'c.json'), ruleFile('c', 'hold'));
    expect((await reloaders[0].refresh(10_500))?.files).toEqual(['a.json', 'b.json', 'c.json']);
    expect(listing.listRuleFiles).toHaveBeenCalledTimes(4);
    expect((await reloaders[2].refresh(10_600))?.files).toEqual(['a.json', 'b.json', 'c.json']);
    expect(listing.listRuleFiles).toHaveBeenCalledTimes(4);
    expect((await reloaders[2].refresh(11_000))).toBeUndefined();
    expect(listing.listRuleFiles).toHaveBeenCalledTimes(5);
  });

  it('does not share listings between folders', async () => {
    const other = await mkdtemp(join(tmpdir(), 'governor-reload-other-'));
    try {
      await writeFile(join(dir, 'a.json'), ruleFile('a', 'hold'));
      await writeFile(join(other, 'b.json'), ruleFile('b', 'hold'));
      const [a, b] = await Promise.all([new RuleReloader(dir, new RuleRunner()).refresh(0), new RuleReloader(other, new RuleRunner()).refresh(0)]);
      expect([a?.files, b?.files]).toEqual([['a.json'], ['b.json']]);
    } finally {
      await rm(other, { recursive: true, force: true });
    }
  });
});
