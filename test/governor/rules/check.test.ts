import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runRulesCheck } from '../../../governor/rules/check.js';

const FIXTURES = join(import.meta.dirname, '../../fixtures');

async function check(dir: string): Promise<{ code: number; lines: string[] }> {
  const lines: string[] = [];
  const code = await runRulesCheck(dir, (line) => lines.push(line));
  return { code, lines };
}

describe('runRulesCheck (governor rules check DIR)', () => {
  it('exits 0 and lists the rules of a good set', async () => {
    const dir = join(FIXTURES, 'rules-good');
    expect(await check(dir)).toEqual({
      code: 0,
      lines: [
        `${dir}: OK, 3 rule(s) in 2 file(s), 2 shared condition(s)`,
        '  busy.json: busy-scale-up -> scale-up (priority 5)',
        '  hold.json: hold-while-paused -> hold (priority 1)',
        '  hold.json: big-fleet-busy -> scale-up (priority 1)',
      ],
    });
  });

  it('exits 1 with one line per error, each naming the file path and JSON path', async () => {
    const dir = join(FIXTURES, 'rules-bad');
    const { code, lines } = await check(dir);
    expect(code).toBe(1);
    const syntax = join(dir, 'broken-syntax.json');
    const typos = join(dir, 'typos.json');
    expect(lines).toEqual([
      `${syntax}:$.rules[1]: JSON syntax: unexpected ']' at line 4, column 3 (expected a value (object, array, string, number, true, false or null))`,
      `${typos}:$.rules[0].event.type: "scale-sideways" is not allowed (expected one of: scale-up, scale-down, hold, origin-slow, block-client, restart-worker)`,
      expect.stringContaining(`${typos}:$.rules[0].conditions.all[0].fact: unknown fact 'fleet.sise' (did you mean 'fleet.size'?)`),
      expect.stringContaining(`${typos}:$.rules[0].conditions.all[1].operator: unknown operator 'greaterThen' (did you mean 'greaterThan'?)`),
      `${typos}:$.rules[0].conditions.all[2].params.seconds: window length 0 is not a whole number of seconds from 1 to 3600 (expected an integer from 1 to 3600)`,
      `${dir}: rejected, 5 error(s)`,
    ]);
  });

  it('exits 1 for a directory that does not exist', async () => {
    const dir = join(FIXTURES, 'rules-none');
    const { code, lines } = await check(dir);
    expect(code).toBe(1);
    expect(lines[0]).toMatch(new RegExp(`^${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\$: cannot list the rule directory: .*ENOENT`));
  });
});
