import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import cron from 'node-cron';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Blackboard } from '../../governor/blackboard.js';
import { VirtualClock } from '../../governor/virtual-clock.js';
import type { Cloud } from '../../governor/cloud/port.js';
import { defaultConfig } from '../../governor/config.js';
import type { Intent } from '../../governor/facts.js';
import { Journal } from '../../governor/journal.js';
import { createLogger } from '../../governor/log.js';
import type { TaskContext, TaskRunRecord } from '../../governor/task.js';
import rulesTask from '../../tasks/rules.js';

const DEFAULT_RULES = join(import.meta.dirname, '../../rules');

/** A Cloud that fails the test if the rules task touches it (rules never act). */
const NO_CLOUD = new Proxy({} as Cloud, {
  get: (_target, prop) => {
    throw new Error(`the rules task used cloud.${String(prop)}`);
  },
});

interface Harness {
  ctx: TaskContext;
  blackboard: Blackboard;
  journal: Journal;
  logLines: Array<Record<string, unknown>>;
  run(): Promise<void>;
}

let clock: VirtualClock;
let dir: string;

beforeEach(async () => {
  clock = new VirtualClock();
  dir = await mkdtemp(join(tmpdir(), 'governor-rules-task-'));
});
afterEach(async () => {
  clock.uninstall();
  await rm(dir, { recursive: true, force: true });
});

function harness(rulesDir: string, signal = new AbortController().signal): Harness {
  const blackboard = new Blackboard(clock);
  const journal = new Journal({ clock, blackboard });
  const logLines: Array<Record<string, unknown>> = [];
  const log = createLogger('info', { write: (line: string) => void logLines.push(JSON.parse(line) as Record<string, unknown>) });
  const ctx: TaskContext = {
    name: 'rules',
    blackboard,
    clock,
    config: { ...defaultConfig(), rulesDir },
    cloud: NO_CLOUD,
    journal,
    log,
    signal,
    invoke: (name) => Promise.reject(new Error(`the rules task invoked ${name}`)) as Promise<TaskRunRecord>,
    sleep: (ms) => clock.sleep(ms, signal),
  };
  return { ctx, blackboard, journal, logLines, run: async () => rulesTask.run(ctx) };
}

/** A rule emitting `type` while fleet.size >= min. */
const sizeRule = (name: string, type: string, min: number, priority = 1) => ({
  name,
  priority,
  conditions: { all: [{ fact: 'fleet.size', operator: 'greaterThanInclusive', value: min }] },
  event: { type },
});

async function writeRules(file: string, rules: unknown[]): Promise<void> {
  await writeFile(join(dir, file), JSON.stringify({ rules }));
}

describe('rules task', () => {
  it('is a Task named rules, every 5 seconds, with a 4-second timeout', () => {
    expect(rulesTask).toMatchObject({ name: 'rules', schedule: '*/5 * * * * *', timeoutMs: 4000 });
    expect(cron.validate(rulesTask.schedule)).toBe(true);
  });

  it('loads the default rules and publishes what it loaded', async () => {
    const h = harness(DEFAULT_RULES);
    await h.run();
    expect(h.blackboard.get('rules.lastReload')).toEqual({
      at: clock.now(),
      ok: true,
      files: ['busy-loop.json', 'denial-of-service.json', 'origin-slow.json', 'scale-down.json', 'scale-up-busy.json', 'scale-up-queue.json'],
    });
    expect(h.blackboard.get('rules.errors')).toEqual([]);
    expect(h.blackboard.get('rules.active')).toEqual([
      { file: 'busy-loop.json', name: 'busy-loop', event: 'restart-worker' },
      { file: 'busy-loop.json', name: 'busy-loop-hold', event: 'hold' },
      { file: 'denial-of-service.json', name: 'denial-of-service', event: 'block-client' },
      { file: 'denial-of-service.json', name: 'denial-of-service-hold', event: 'hold' },
      { file: 'origin-slow.json', name: 'origin-slow', event: 'origin-slow' },
      { file: 'scale-down.json', name: 'scale-down', event: 'scale-down' },
      { file: 'scale-up-busy.json', name: 'scale-up-busy', event: 'scale-up' },
      { file: 'scale-up-queue.json', name: 'scale-up-queue', event: 'scale-up' },
    ]);
    expect(h.journal.query({ kind: 'rules' })).toEqual([expect.objectContaining({ name: 'reload', reason: expect.stringMatching(/^loaded 8 rule\(s\) from 6 file\(s\)/) })]);
    expect(h.blackboard.keys('intents.')).toEqual([]);
  });

  it("turns Edge80's rule into intents.scale-up once the fleet has been over 65% busy for a minute", async () => {
    const h = harness(DEFAULT_RULES);
    h.blackboard.series('fleet.busy').push(0.2);
    for (let second = 1; second <= 65; second++) {
      await clock.advance(1000);
      h.blackboard.series('fleet.busy').push(0.7);
      if (second % 5 === 0) await h.run();
      const intent = h.blackboard.get<Intent>('intents.scale-up');
      if (second % 5 === 0) expect(intent !== undefined, `second ${second}`).toBe(second >= 60);
    }
    expect(h.blackboard.get<Intent>('intents.scale-up')).toMatchObject({
      rule: 'scale-up-busy',
      file: 'scale-up-busy.json',
      facts: { 'secondsAbove(fleet.busy,0.65)': 65 },
      at: clock.now(),
    });
    expect(h.journal.query({ kind: 'intent' })).toEqual([
      expect.objectContaining({ name: 'scale-up', facts: { 'secondsAbove(fleet.busy,0.65)': 60 }, data: expect.objectContaining({ state: 'appeared', rule: 'scale-up-busy' }) }),
    ]);
  });

  it('journals an intent when it appears, when its deciding rule changes and when it clears, not every run', async () => {
    await writeRules('a.json', [sizeRule('big', 'hold', 3, 2)]);
    await writeRules('b.json', [sizeRule('some', 'hold', 2)]);
    const h = harness(dir);
    const journaled = () => h.journal.query({ kind: 'intent' }).map((e) => `${e.name}:${String(e.data?.state)}:${String(e.data?.rule)}`);

    h.blackboard.set('fleet.size', 2);
    await h.run();
    await h.run();
    expect(h.blackboard.get<Intent>('intents.hold')?.rule).toBe('some');
    h.blackboard.set('fleet.size', 3);
    await h.run();
    await h.run();
    expect(h.blackboard.get<Intent>('intents.hold')).toMatchObject({ rule: 'big', also: [{ rule: 'some', file: 'b.json' }] });
    h.blackboard.set('fleet.size', 1);
    await h.run();
    await h.run();
    expect(h.blackboard.has('intents.hold')).toBe(false);
    expect(journaled()).toEqual(['hold:appeared:some', 'hold:changed:big', 'hold:cleared:undefined']);
  });

  it('deletes intents.* keys that no rule emitted this run', async () => {
    await writeRules('a.json', [sizeRule('some', 'hold', 1)]);
    const h = harness(dir);
    h.blackboard.set('fleet.size', 1);
    h.blackboard.set('intents.block-client', { type: 'block-client', rule: 'gone' });
    await h.run();
    expect(h.blackboard.keys('intents.')).toEqual(['intents.hold']);
  });

  it('records a rejected set on the blackboard, in the journal and in the log, and keeps evaluating the last good set', async () => {
    await writeRules('a.json', [sizeRule('some', 'hold', 1)]);
    const h = harness(dir);
    h.blackboard.set('fleet.size', 1);
    await h.run();
    await clock.advance(5000);
    await writeFile(join(dir, 'b.json'), '{"rules": [ { "name": "x", } ]}');
    await h.run();

    expect(h.blackboard.get('rules.lastReload')).toEqual({ at: clock.now(), ok: false, files: ['a.json', 'b.json'] });
    expect(h.blackboard.get('rules.errors')).toEqual([expect.objectContaining({ file: 'b.json', path: '$.rules[0]', message: expect.stringMatching(/^JSON syntax: unexpected '}'/) })]);
    expect(h.blackboard.get('rules.active')).toEqual([{ file: 'a.json', name: 'some', event: 'hold' }]);
    const [, rejection] = h.journal.query({ kind: 'rules' });
    expect(rejection.reason).toMatch(/^rejected the rule set in .*: 1 error\(s\), kept the last good set \(1 rule\(s\)\); first: b\.json:\$\.rules\[0\]: JSON syntax/);
    expect(h.logLines.find((l) => l.code === 'GOV_ERR_RULES_INVALID')).toMatchObject({ level: 40, errors: [{ file: 'b.json' }] });
    expect(h.blackboard.get<Intent>('intents.hold')).toMatchObject({ rule: 'some', at: clock.now() });

    // Not re-reported while nothing changes; the fix is picked up.
    await h.run();
    expect(h.journal.query({ kind: 'rules' })).toHaveLength(2);
    await writeRules('b.json', [sizeRule('other', 'scale-up', 1)]);
    await h.run();
    expect(h.blackboard.get('rules.errors')).toEqual([]);
    expect(h.blackboard.keys('intents.')).toEqual(['intents.hold', 'intents.scale-up']);
  });

  it('runs without any good set as a no-op that says why', async () => {
    const h = harness(join(dir, 'missing'));
    await h.run();
    expect(h.blackboard.get('rules.active')).toEqual([]);
    expect(h.journal.query({ kind: 'rules' })[0].reason).toMatch(/no rule set is active; first: .*cannot list the rule directory/);
  });

  it('keeps the state of each governor (blackboard) apart', async () => {
    await writeRules('a.json', [sizeRule('mine', 'hold', 1)]);
    const first = harness(dir);
    const second = harness(DEFAULT_RULES);
    first.blackboard.set('fleet.size', 1);
    second.blackboard.set('fleet.size', 1);
    await first.run();
    await second.run();
    expect(first.blackboard.get<Intent>('intents.hold')?.rule).toBe('mine');
    expect(second.blackboard.keys('intents.')).toEqual([]);
  });

  it('writes no intents once its run is aborted', async () => {
    await writeRules('a.json', [sizeRule('some', 'hold', 1)]);
    const controller = new AbortController();
    const h = harness(dir, controller.signal);
    h.blackboard.set('fleet.size', 1);
    controller.abort(new Error('timed out'));
    await expect(h.run()).rejects.toThrow('timed out');
    expect(h.blackboard.keys('intents.')).toEqual([]);
  });
});
