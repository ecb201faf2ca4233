import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as FakeTimers from '@sinonjs/fake-timers';
import { pino } from 'pino';
import { Blackboard } from '../../governor/blackboard.js';
import type { VirtualClock } from '../../governor/virtual-clock.js';
import { FailureInjector } from '../../governor/cloud/failures.js';
import { LocalCloud } from '../../governor/cloud/local.js';
import type { Cloud } from '../../governor/cloud/port.js';
import { LocalRegistry } from '../../governor/cloud/registry.js';
import { parseConfig, type ConfigInput } from '../../governor/config.js';
import type { GovernorConfig } from '../../governor/config-types.js';
import { describeError } from '../../governor/errors.js';
import { Journal } from '../../governor/journal.js';
import type { Task, TaskContext, TaskRunRecord } from '../../governor/task.js';
import type { ProxyControl } from '../../proxy/types.js';

export const FLEET = 'edge';
export const REGION = 'local-1';

/** A validated config for the test fleet with `overrides` applied (no environment). */
export function testConfig(overrides: ConfigInput = {}): GovernorConfig {
  return parseConfig({ fleet: FLEET, region: REGION, ...overrides }, 'test', {});
}

/**
 * One governor's task surroundings without the scheduler: the real Blackboard and Journal, the
 * given clock, cloud and proxy. `run` runs a task once with a fresh TaskContext; `invoke` runs a
 * task registered with `register`, like the scheduler would (joining a run in progress).
 */
export class TaskHarness {
  readonly blackboard: Blackboard;
  readonly journal: Journal;
  readonly log = pino({ level: 'silent' });
  private readonly tasks = new Map<string, Task>();
  private readonly running = new Map<string, Promise<TaskRunRecord>>();
  /** Every invoke() call, by name, in order. */
  readonly invoked: string[] = [];

  constructor(
    readonly parts: { clock: VirtualClock; config: GovernorConfig; cloud: Cloud; proxy?: ProxyControl },
  ) {
    this.blackboard = new Blackboard(parts.clock);
    this.journal = new Journal({ clock: parts.clock, blackboard: this.blackboard });
  }

  register(task: Task): this {
    this.tasks.set(task.name, task);
    return this;
  }

  context(task: Task, signal: AbortSignal = new AbortController().signal): TaskContext {
    const { clock, config, cloud, proxy } = this.parts;
    return {
      name: task.name,
      blackboard: this.blackboard,
      clock,
      config,
      cloud,
      proxy,
      journal: this.journal,
      log: this.log,
      signal,
      invoke: (name) => this.invoke(name),
      sleep: (ms) => clock.sleep(ms, signal),
    };
  }

  async run(task: Task, signal?: AbortSignal): Promise<void> {
    await task.run(this.context(task, signal));
  }

  invoke(name: string): Promise<TaskRunRecord> {
    this.invoked.push(name);
    const task = this.tasks.get(name);
    if (!task) return Promise.reject(new Error(`no task ${name}`));
    const current = this.running.get(name);
    if (current) return current;
    const lastStart = this.parts.clock.now();
    const base = { name, lastStart, runs: 1, skipped: 0 };
    const done = this.run(task).then(
      (): TaskRunRecord => ({ ...base, outcome: 'ok', failures: 0 }),
      (err: unknown): TaskRunRecord => ({ ...base, outcome: 'error', failures: 1, error: describeError(err) }),
    );
    this.running.set(name, done);
    void done.then(() => this.running.delete(name));
    return done;
  }

  /** Journal entries named `name` (or all), oldest first. */
  entries(name?: string) {
    return this.journal.query({ name, limit: 1000 });
  }
}

/** Real time, for letting file I/O complete while virtual time stands still. */
export function realDelay(ms: number): Promise<void> {
  return new Promise((resolve) => FakeTimers.timers.setTimeout(() => resolve(), ms));
}

/**
 * Settles `promise` while moving virtual time in `stepMs` steps (with a real pause between
 * steps for file I/O), at most `maxVirtualMs` of virtual time.
 */
export async function drive<T>(clock: VirtualClock, promise: Promise<T>, stepMs = 100, maxVirtualMs = 600_000): Promise<T> {
  let settled = false;
  const watched = promise.finally(() => {
    settled = true;
  });
  watched.catch(() => undefined);
  for (let elapsed = 0; !settled && elapsed < maxVirtualMs; elapsed += stepMs) {
    await realDelay(1);
    if (!settled) await clock.advance(stepMs);
  }
  return watched;
}

/** A local region in a temporary state directory, with records only (spawn: null). */
export class TestRegion {
  readonly failures = new FailureInjector();
  readonly registry: LocalRegistry;

  private constructor(
    readonly stateDir: string,
    readonly clock: VirtualClock,
  ) {
    this.registry = new LocalRegistry(stateDir, { clock, log: pino({ level: 'silent' }) });
  }

  static async create(clock: VirtualClock): Promise<TestRegion> {
    return new TestRegion(await mkdtemp(join(tmpdir(), 'governor-tasks-')), clock);
  }

  cloudFor(id: string): LocalCloud {
    return new LocalCloud({ stateDir: this.stateDir, fleet: FLEET, region: REGION, selfId: id, clock: this.clock, spawn: null, failures: this.failures });
  }

  /** Registers `count` running instances, one virtual second apart (oldest first). */
  async addRunning(count: number): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 0; i < count; i++) {
      const { id } = await this.registry.createInstance({ fleet: FLEET, region: REGION, launchedBy: 'operator' });
      await this.cloudFor(id).markRunning({});
      ids.push(id);
      await this.clock.advance(1000);
    }
    return ids;
  }

  async cleanup(): Promise<void> {
    // A run aborted by a test may still be finishing an atomic write in the folder (CI saw ENOTEMPTY): rm retries those.
    await rm(this.stateDir, { recursive: true, force: true, maxRetries: 5, retryDelay: 20 });
  }
}
