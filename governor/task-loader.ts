import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import cron from 'node-cron';
import { GovError, describeError } from './errors.js';
import type { Task } from './task.js';

export interface LoadTasksOptions {
  /**
   * A bare name `x` is the module `x` of the project's tasks folder (tasks/x.js beside the built
   * engine, tasks/x.ts when running from source). An absolute path, or one starting with ./ or
   * ../ (resolved against the working directory), is an operator's module, imported as is.
   */
  modules: string[];
  /** Every *.js and *.mjs file in this folder is loaded too (in name order). */
  extraDir?: string;
  /** Per-task replacements of the module's schedule and timeout, by task name. */
  overrides?: Record<string, { schedule?: string; timeoutMs?: number }>;
  /** Where bare names are looked up; default: the tasks folder beside this module's folder. */
  tasksDir?: string;
}

/** The project's tasks folder: dist/tasks when built, tasks/ when run from source. */
const DEFAULT_TASKS_DIR = fileURLToPath(new URL('../tasks/', import.meta.url));

interface Problem {
  file: string;
  problem: string;
}

/**
 * Imports and validates every task module, then applies the overrides.
 *
 * Contract: a module default-exports a Task or a (possibly async) factory returning one. Either
 * every module loads and every task is valid, or the promise rejects with one GovError
 * GOV_ERR_TASK_LOAD listing every problem (file and what is wrong) in its message and in
 * `details.problems`. Module objects are never modified: an overridden task is a copy.
 */
export async function loadTasks(opts: LoadTasksOptions): Promise<Task[]> {
  const problems: Problem[] = [];
  const files = moduleFiles(opts, problems);
  const loaded: Array<{ file: string; task: Task }> = [];
  for (const file of files) {
    const result = await loadTask(file);
    if ('problem' in result) problems.push({ file, problem: result.problem });
    else loaded.push({ file, task: result.task });
  }

  const fileOf = new Map<string, string>();
  for (const { file, task } of loaded) {
    const first = fileOf.get(task.name);
    if (first) problems.push({ file, problem: `duplicate task name "${task.name}" (also defined in ${first})` });
    else fileOf.set(task.name, file);
  }

  const tasks = loaded.map(({ task }) => task);
  for (const [name, override] of Object.entries(opts.overrides ?? {})) {
    const index = tasks.findIndex((t) => t.name === name);
    if (index < 0) {
      problems.push({ file: 'tasks.overrides', problem: `override for "${name}", which is not a loaded task` });
      continue;
    }
    const original = tasks[index];
    const overridden: Task = {
      name,
      schedule: override.schedule ?? original.schedule,
      timeoutMs: override.timeoutMs ?? original.timeoutMs,
      run: original.run.bind(original),
    };
    for (const problem of taskProblems(overridden)) {
      problems.push({ file: 'tasks.overrides', problem: `override for "${name}": ${problem}` });
    }
    tasks[index] = overridden;
  }

  if (problems.length > 0) {
    const lines = problems.map((p) => `- ${p.file}: ${p.problem}`);
    throw new GovError(
      'GOV_ERR_TASK_LOAD',
      `${problems.length} task loading problem${problems.length === 1 ? '' : 's'}:\n${lines.join('\n')}`,
      { problems },
    );
  }
  return tasks;
}

/**
 * What is wrong with a would-be Task (empty when valid): name a non-empty string, schedule a
 * valid 6-field node-cron expression, timeoutMs a positive finite number, run a function.
 */
export function taskProblems(candidate: unknown): string[] {
  if (typeof candidate !== 'object' || candidate === null) {
    return [`expected a Task object, got ${describeValue(candidate)}`];
  }
  const t = candidate as Record<string, unknown>;
  const problems: string[] = [];
  if (typeof t.name !== 'string' || t.name.trim() === '') {
    problems.push(`name: expected a non-empty string, got ${describeValue(t.name)}`);
  }
  const scheduleProblem = cronProblem(t.schedule);
  if (scheduleProblem) problems.push(`schedule: ${scheduleProblem}`);
  if (typeof t.timeoutMs !== 'number' || !Number.isFinite(t.timeoutMs) || t.timeoutMs <= 0) {
    problems.push(`timeoutMs: expected a positive finite number of milliseconds, got ${describeValue(t.timeoutMs)}`);
  }
  if (typeof t.run !== 'function') problems.push(`run: expected a function, got ${describeValue(t.run)}`);
  return problems;
}

function cronProblem(schedule: unknown): string | undefined {
  const expected = 'expected a 6-field cron expression with seconds (e.g. "*/5 * * * * *")';
  if (typeof schedule !== 'string') return `${expected}, got ${describeValue(schedule)}`;
  const fields = schedule.trim().split(/\s+/).length;
  if (fields !== 6) return `${expected}, got ${JSON.stringify(schedule)} with ${fields} field${fields === 1 ? '' : 's'}`;
  let errors: string[];
  try {
    errors = cron.validateDetailed(schedule).errors.map((e) => e.message);
  } catch (err) {
    errors = [describeError(err).message];
  }
  return errors.length > 0 ? `${expected}, got ${JSON.stringify(schedule)}: ${errors.join('; ')}` : undefined;
}

/** Absolute paths of the modules to import; unresolvable names become problems. */
function moduleFiles(opts: LoadTasksOptions, problems: Problem[]): string[] {
  const files: string[] = [];
  for (const spec of opts.modules) {
    const file = resolveModule(spec, opts.tasksDir ?? DEFAULT_TASKS_DIR);
    if (file) files.push(file);
    else problems.push({ file: spec, problem: `no task module "${spec}" (looked for ${spec}.js and ${spec}.ts in ${opts.tasksDir ?? DEFAULT_TASKS_DIR})` });
  }
  if (opts.extraDir !== undefined) {
    const dir = path.resolve(opts.extraDir);
    try {
      const names = readdirSync(dir, { withFileTypes: true })
        .filter((d) => d.isFile() && /\.(m?js)$/.test(d.name))
        .map((d) => d.name)
        .sort();
      files.push(...names.map((name) => path.join(dir, name)));
    } catch (err) {
      problems.push({ file: dir, problem: `cannot read the extra tasks folder: ${describeError(err).message}` });
    }
  }
  return files;
}

function resolveModule(spec: string, tasksDir: string): string | undefined {
  if (path.isAbsolute(spec) || spec.startsWith('./') || spec.startsWith('../')) return path.resolve(spec);
  return [`${spec}.js`, `${spec}.ts`].map((name) => path.join(tasksDir, name)).find((file) => existsSync(file));
}

async function loadTask(file: string): Promise<{ task: Task } | { problem: string }> {
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (err) {
    return { problem: `import failed: ${describeError(err).message}` };
  }
  if (!('default' in mod) || mod.default === undefined) {
    return { problem: 'no default export (expected a Task or a factory returning one)' };
  }
  let candidate: unknown = mod.default;
  if (typeof candidate === 'function') {
    try {
      candidate = await (candidate as () => unknown)();
    } catch (err) {
      return { problem: `the default-exported factory threw: ${describeError(err).message}` };
    }
  }
  const problems = taskProblems(candidate);
  return problems.length > 0 ? { problem: problems.join('; ') } : { task: candidate as Task };
}

function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (value === null) return 'null';
  return Array.isArray(value) ? 'an array' : `an ${typeof value}`;
}
