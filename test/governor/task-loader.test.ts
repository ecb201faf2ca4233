import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { GovError, isGovError } from '../../governor/errors.js';
import { loadTasks, taskProblems } from '../../governor/task-loader.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/tasks/', import.meta.url));
const fixture = (name: string) => path.join(FIXTURES, name);

/** A syntax error cannot live in the repository (the linter parses every .mjs), so it is made here. */
const scratch = mkdtempSync(path.join(tmpdir(), 'governor-task-loader-'));
const SYNTAX_ERROR = path.join(scratch, 'syntax-error.mjs');
writeFileSync(SYNTAX_ERROR, 'export default { name: "broken", schedule: \n');
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

async function loadError(opts: Parameters<typeof loadTasks>[0]): Promise<GovError> {
  const err = await loadTasks(opts).then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!isGovError(err, 'GOV_ERR_TASK_LOAD')) throw new Error(`expected GOV_ERR_TASK_LOAD, got ${String(err)}`);
  return err;
}

describe('loadTasks', () => {
  it('loads a Task export and a factory export by path', async () => {
    const tasks = await loadTasks({ modules: [fixture('good.mjs'), fixture('factory.mjs')] });
    expect(tasks.map((t) => [t.name, t.schedule, t.timeoutMs])).toEqual([
      ['good', '*/5 * * * * *', 1000],
      ['made', '0 * * * * *', 500],
    ]);
  });

  it('resolves a path starting with ./ against the working directory', async () => {
    const relative = `./${path.relative(process.cwd(), fixture('good.mjs'))}`;
    const [task] = await loadTasks({ modules: [relative] });
    expect(task.name).toBe('good');
  });

  it('resolves bare names in the tasks folder, .js before .ts', async () => {
    const tasks = await loadTasks({ modules: ['alpha', 'beta'], tasksDir: fixture('bare') });
    expect(tasks.map((t) => t.name)).toEqual(['alpha', 'beta']);
  });

  it('looks bare names up in the project tasks folder by default', async () => {
    const err = await loadError({ modules: ['no-such-task'] });
    const projectTasks = fileURLToPath(new URL('../../tasks/', import.meta.url));
    expect(err.message).toContain(`no task module "no-such-task" (looked for no-such-task.js and no-such-task.ts in ${projectTasks})`);
  });

  it('loads every .js and .mjs module of the extra folder, in name order', async () => {
    const tasks = await loadTasks({ modules: [fixture('good.mjs')], extraDir: fixture('extra') });
    expect(tasks.map((t) => t.name)).toEqual(['good', 'extra-a', 'extra-b']);
  });

  it('applies overrides without touching the module export', async () => {
    const [task] = await loadTasks({
      modules: [fixture('good.mjs')],
      overrides: { good: { schedule: '*/1 * * * * *' } },
    });
    expect(task).toMatchObject({ name: 'good', schedule: '*/1 * * * * *', timeoutMs: 1000 });
    const [again] = await loadTasks({ modules: [fixture('good.mjs')] });
    expect(again.schedule).toBe('*/5 * * * * *');
    const values = new Map<string, unknown>();
    await task.run({ blackboard: { set: (k: string, v: unknown) => values.set(k, v) } } as never);
    expect(values.get('fixture.good.ran')).toBe(true);
  });

  it('reports every broken module at once, naming the file and what is wrong', async () => {
    const err = await loadError({
      modules: [
        fixture('good.mjs'),
        SYNTAX_ERROR,
        fixture('missing-default.mjs'),
        fixture('bad-schedule.mjs'),
        fixture('bad-timeout.mjs'),
        fixture('duplicate.mjs'),
        fixture('throwing-factory.mjs'),
        fixture('does-not-exist.mjs'),
      ],
    });
    const problems = err.details!.problems as Array<{ file: string; problem: string }>;
    const byFile = new Map(problems.map((p) => [path.basename(p.file), p.problem]));
    expect([...byFile.keys()].sort()).toEqual(
      [
        'syntax-error.mjs',
        'missing-default.mjs',
        'bad-schedule.mjs',
        'bad-timeout.mjs',
        'duplicate.mjs',
        'throwing-factory.mjs',
        'does-not-exist.mjs',
      ].sort(),
    );
    expect(byFile.get('syntax-error.mjs')).toMatch(/^import failed: /);
    expect(byFile.get('does-not-exist.mjs')).toMatch(/^import failed: /);
    expect(byFile.get('missing-default.mjs')).toBe('no default export (expected a Task or a factory returning one)');
    expect(byFile.get('bad-schedule.mjs')).toBe(
      'schedule: expected a 6-field cron expression with seconds (e.g. "*/5 * * * * *"), got "*/5 * * * *" with 5 fields',
    );
    expect(byFile.get('bad-timeout.mjs')).toBe(
      'timeoutMs: expected a positive finite number of milliseconds, got -5; run: expected a function, got nothing',
    );
    expect(byFile.get('duplicate.mjs')).toBe(`duplicate task name "good" (also defined in ${fixture('good.mjs')})`);
    expect(byFile.get('throwing-factory.mjs')).toBe('the default-exported factory threw: no cloud credentials');
    expect(err.message.split('\n')[0]).toBe('7 task loading problems:');
    for (const p of problems) expect(err.message).toContain(`- ${p.file}: ${p.problem}`);
  });

  it('validates overrides and rejects one for an unknown task', async () => {
    const err = await loadError({
      modules: [fixture('good.mjs')],
      overrides: { good: { schedule: '61 * * * * *', timeoutMs: 0 }, ghost: { timeoutMs: 5 } },
    });
    expect(err.message).toContain('- tasks.overrides: override for "good": schedule: expected a 6-field cron expression');
    expect(err.message).toContain('61 is a invalid expression for second');
    expect(err.message).toContain('override for "good": timeoutMs: expected a positive finite number of milliseconds, got 0');
    expect(err.message).toContain('- tasks.overrides: override for "ghost", which is not a loaded task');
  });

  it('reports an unreadable extra folder', async () => {
    const err = await loadError({ modules: [], extraDir: fixture('no-such-dir') });
    expect(err.message).toMatch(/no-such-dir: cannot read the extra tasks folder/);
  });
});

describe('taskProblems', () => {
  it('accepts a valid task and names each bad field with what was expected', () => {
    expect(taskProblems({ name: 'x', schedule: '0 0 * * * *', timeoutMs: 1, run: () => {} })).toEqual([]);
    expect(taskProblems({ name: ' ', schedule: 5, timeoutMs: Number.POSITIVE_INFINITY, run: 'go' })).toEqual([
      'name: expected a non-empty string, got " "',
      'schedule: expected a 6-field cron expression with seconds (e.g. "*/5 * * * * *"), got 5',
      'timeoutMs: expected a positive finite number of milliseconds, got Infinity',
      'run: expected a function, got "go"',
    ]);
    expect(taskProblems(null)).toEqual(['expected a Task object, got null']);
  });
});
