import cron, { type Logger as CronLogger, type ScheduledTask } from 'node-cron';
import type { Logger } from 'pino';
import type { ProxyControl } from '../proxy/types.js';
import type { BlackboardApi } from './blackboard-types.js';
import type { Clock, TimerHandle } from './clock.js';
import type { Cloud } from './cloud/port.js';
import type { GovernorConfig } from './config-types.js';
import { GovError, describeError } from './errors.js';
import type { JournalApi } from './journal-types.js';
import { taskLogger } from './log.js';
import { taskProblems } from './task-loader.js';
import type { Task, TaskContext, TaskOutcome, TaskRunRecord } from './task.js';

export interface SchedulerOptions {
  clock: Clock;
  blackboard: BlackboardApi;
  journal: JournalApi;
  log: Logger;
  services: { config: GovernorConfig; cloud: Cloud; proxy?: ProxyControl };
}

/** One loaded task and its run state. */
interface Entry {
  readonly task: Task;
  readonly log: Logger;
  /** Undefined until the first run starts. */
  record?: TaskRunRecord;
  /** Fires skipped or missed before the first run; folded into the first record. */
  skippedBeforeFirstRun: number;
  /** The run in progress: the promise of its final record, and how stop() abandons it. */
  current?: { done: Promise<TaskRunRecord>; abandon(reason: GovError): void };
  cron?: ScheduledTask;
}

/**
 * Runs tasks on their cron schedules (node-cron 4, with seconds) and on demand.
 *
 * Guarantees:
 * - At most one run of a task at a time. `invoke` while a run is going joins it; a cron fire
 *   while a run is going is not run but counted in `skipped`, and so is every fire node-cron
 *   missed while the event loop was blocked (missed fires are never replayed).
 * - A run that throws, rejects or outlives `timeoutMs` is recorded (outcome 'error' or
 *   'timeout'), journaled (kind 'error') and never stops the scheduler or other tasks.
 * - At the timeout the run's signal is aborted and its slot is freed at once, whether or not
 *   the task stops: a task must honour `ctx.signal` (and use `ctx.sleep`), or its abandoned
 *   work keeps going beside the next run.
 * - `tasks.<name>` on the blackboard holds the TaskRunRecord: written when a run starts
 *   (outcome 'running'), when it ends, and when a fire is skipped. Each write is a new record
 *   object, never changed afterwards (readers must not change it either).
 *
 * node-cron is driven through global timers and Date, so under a VirtualClock the real
 * scheduler runs in virtual time. It is used with `noOverlap: true` and never with
 * `maxExecutions` (which does not count failed runs); a run never rejects into node-cron.
 */
export class Scheduler {
  private readonly entries = new Map<string, Entry>();
  private state: 'idle' | 'started' | 'stopping' | 'stopped' = 'idle';
  private stopping?: Promise<{ abandoned: string[] }>;

  constructor(private readonly opts: SchedulerOptions) {}

  /**
   * Adds a task (validated as the loader does: GOV_ERR_TASK_LOAD when invalid or a duplicate);
   * its schedule starts at once when the scheduler is already started.
   */
  add(task: Task): void {
    const problems = taskProblems(task);
    if (problems.length > 0) {
      throw new GovError('GOV_ERR_TASK_LOAD', `invalid task "${String(task?.name)}": ${problems.join('; ')}`, { problems });
    }
    if (this.state === 'stopping' || this.state === 'stopped') {
      throw new GovError('GOV_ERR_TASK_ABORTED', `cannot add task "${task.name}": the scheduler is stopped`);
    }
    if (this.entries.has(task.name)) {
      throw new GovError('GOV_ERR_TASK_LOAD', `duplicate task name "${task.name}": task names must be unique`, {
        name: task.name,
      });
    }
    const entry: Entry = { task, log: taskLogger(this.opts.log, task.name), skippedBeforeFirstRun: 0 };
    this.entries.set(task.name, entry);
    if (this.state === 'started') this.schedule(entry);
  }

  /** Starts every task's schedule. Idempotent while started. */
  start(): void {
    if (this.state === 'started') return;
    if (this.state !== 'idle') throw new GovError('GOV_ERR_TASK_ABORTED', 'a stopped scheduler cannot be started again');
    this.state = 'started';
    for (const entry of this.entries.values()) this.schedule(entry);
  }

  /**
   * Runs the task now, or joins the run in progress. Resolves with the run's final record
   * (never rejects for a failed run: read `outcome`). Rejects with GOV_ERR_TASK_UNKNOWN for an
   * unknown name and GOV_ERR_TASK_ABORTED after stop().
   */
  invoke(name: string): Promise<TaskRunRecord> {
    const entry = this.entries.get(name);
    if (!entry) {
      return Promise.reject(
        new GovError('GOV_ERR_TASK_UNKNOWN', `invoke("${name}"): no such task; loaded: ${[...this.entries.keys()].join(', ') || 'none'}`, {
          name,
        }),
      );
    }
    if (this.state === 'stopped') {
      return Promise.reject(new GovError('GOV_ERR_TASK_ABORTED', `invoke("${name}"): the scheduler is stopped`, { name }));
    }
    return entry.current?.done ?? this.begin(entry);
  }

  /**
   * Stops every schedule, then waits (by the clock) up to `deadlineMs` for runs in progress,
   * including runs they invoke meanwhile. Runs still going at the deadline are aborted, recorded
   * as 'error' (GOV_ERR_TASK_ABORTED) and named in `abandoned`. Later calls return the first
   * call's result.
   */
  stop(deadlineMs: number): Promise<{ abandoned: string[] }> {
    if (typeof deadlineMs !== 'number' || !(deadlineMs >= 0)) {
      throw new RangeError(`stop deadline must be a non-negative number of ms, got ${String(deadlineMs)}`);
    }
    this.stopping ??= this.stopWithin(deadlineMs);
    return this.stopping;
  }

  private async stopWithin(deadlineMs: number): Promise<{ abandoned: string[] }> {
    this.state = 'stopping';
    for (const entry of this.entries.values()) {
      entry.cron?.destroy();
      entry.cron = undefined;
    }

    let deadlinePassed = false;
    let timer!: TimerHandle;
    const deadline = new Promise<void>((resolve) => {
      timer = this.opts.clock.setTimeout(() => {
        deadlinePassed = true;
        resolve();
      }, deadlineMs);
    });
    let running = this.running();
    while (running.length > 0 && !deadlinePassed) {
      await Promise.race([deadline, Promise.all(running.map((e) => e.current!.done))]);
      running = this.running();
    }
    this.opts.clock.clearTimeout(timer);

    const abandoned = running.map((e) => e.task.name);
    const reason = new GovError('GOV_ERR_TASK_ABORTED', `the scheduler stopped: run abandoned after the ${deadlineMs} ms stop deadline`);
    for (const entry of running) entry.current?.abandon(reason);
    this.state = 'stopped';
    return { abandoned };
  }

  /** A copy of the task's run record; undefined for an unknown task or one that never ran. */
  record(name: string): TaskRunRecord | undefined {
    const record = this.entries.get(name)?.record;
    return record && { ...record };
  }

  private running(): Entry[] {
    return [...this.entries.values()].filter((e) => e.current);
  }

  private schedule(entry: Entry): void {
    const task = cron.createTask(entry.task.schedule, () => this.onFire(entry), {
      name: `governor:${entry.task.name}`,
      noOverlap: true,
      logger: cronLogger(entry.log),
    });
    // Blocked by noOverlap: a fire came while the previous cron-started run was going.
    task.on('execution:overlap', () => this.skip(entry, 'previous run still going'));
    // node-cron plans missed fires (event loop blocked) as missed and does not replay them.
    task.on('execution:missed', () => this.skip(entry, 'missed: event loop blocked past the fire time'));
    entry.cron = task;
    void task.start();
  }

  /**
   * What a schedule's fire does (node-cron's callback, or a simulator's own driver): starts a
   * run, or, while one is going, counts the fire as skipped. Resolves when the run ends (at
   * once for a skip), whatever its outcome; rejects only with GOV_ERR_TASK_UNKNOWN for an
   * unknown name.
   */
  fire(name: string): Promise<void> {
    const entry = this.entries.get(name);
    if (!entry) return Promise.reject(new GovError('GOV_ERR_TASK_UNKNOWN', `fire("${name}"): no such task`, { name }));
    return this.onFire(entry);
  }

  private async onFire(entry: Entry): Promise<void> {
    if (entry.current) {
      this.skip(entry, 'previous run still going');
      return;
    }
    await this.begin(entry);
  }

  private skip(entry: Entry, why: string): void {
    if (entry.record) {
      entry.record = { ...entry.record, skipped: entry.record.skipped + 1 };
      this.publish(entry.record);
    } else {
      entry.skippedBeforeFirstRun++;
    }
    entry.log.debug({ skipped: entry.record?.skipped ?? entry.skippedBeforeFirstRun }, `fire skipped: ${why}`);
  }

  /** Starts a run; resolves with its final record when it ends, times out or is abandoned. */
  private begin(entry: Entry): Promise<TaskRunRecord> {
    const { clock } = this.opts;
    const { task } = entry;
    const abort = new LazyAbort();
    const startedAt = clock.now();
    const previous = entry.record;
    entry.record = {
      name: task.name,
      lastStart: startedAt,
      outcome: 'running',
      runs: (previous?.runs ?? 0) + 1,
      failures: previous?.failures ?? 0,
      skipped: previous?.skipped ?? entry.skippedBeforeFirstRun,
    };
    this.publish(entry.record);

    let timer: TimerHandle | undefined = undefined;
    let settle!: (outcome: Exclude<TaskOutcome, 'running'>, err?: unknown) => void;
    const done = new Promise<TaskRunRecord>((resolve) => {
      let finished = false;
      settle = (outcome, err) => {
        if (finished) return;
        finished = true;
        if (timer !== undefined) clock.clearTimeout(timer);
        entry.current = undefined;
        resolve(this.finish(entry, startedAt, outcome, err));
      };
    });
    const abandon = (reason: GovError) => {
      settle('error', reason);
      abort.abort(reason);
    };
    entry.current = { abandon, done };

    let result: unknown;
    try {
      result = task.run(new RunContext(entry, this.opts, abort, (name) => this.invoke(name)));
    } catch (err) {
      settle('error', err);
      return done;
    }
    // A run that returned no promise is over: no timeout to arm (most every-second tasks).
    if (!isPromiseLike(result)) {
      settle('ok');
      return done;
    }
    // The record is final and the slot free before the task's abort listeners run.
    timer = clock.setTimeout(() => {
      const err = new GovError('GOV_ERR_TASK_TIMEOUT', `task "${task.name}" exceeded its timeout of ${task.timeoutMs} ms`, {
        name: task.name,
        timeoutMs: task.timeoutMs,
      });
      settle('timeout', err);
      abort.abort(err);
    }, task.timeoutMs);
    result.then(
      () => settle('ok'),
      (err: unknown) => settle('error', err),
    );
    return done;
  }

  private finish(entry: Entry, startedAt: number, outcome: Exclude<TaskOutcome, 'running'>, err?: unknown): TaskRunRecord {
    const durationMs = this.opts.clock.now() - startedAt;
    const failed = outcome !== 'ok';
    const started = entry.record!;
    const record: TaskRunRecord = {
      name: started.name,
      lastStart: started.lastStart,
      durationMs,
      outcome,
      error: failed ? failureOf(err) : undefined,
      runs: started.runs,
      failures: started.failures + (failed ? 1 : 0),
      skipped: started.skipped,
    };
    entry.record = record;
    this.publish(record);

    if (failed) {
      const reason =
        outcome === 'timeout'
          ? `timed out after ${entry.task.timeoutMs} ms and was aborted`
          : `failed after ${durationMs} ms: ${record.error!.message}`;
      this.opts.journal.record({ kind: 'error', name: entry.task.name, reason, data: { outcome, error: record.error, durationMs } });
    } else {
      entry.log.debug({ durationMs }, 'run ok');
    }
    return record;
  }

  private publish(record: TaskRunRecord): void {
    this.opts.blackboard.set(`tasks.${record.name}`, record);
  }
}

/** One run's TaskContext (a class: one shape for every run; invoke and sleep may be destructured). */
class RunContext implements TaskContext {
  readonly name: string;
  readonly blackboard: BlackboardApi;
  readonly clock: Clock;
  readonly config: GovernorConfig;
  readonly cloud: Cloud;
  readonly proxy?: ProxyControl;
  readonly journal: JournalApi;
  readonly log: Logger;
  readonly sleep: (ms: number) => Promise<void>;

  constructor(
    entry: Entry,
    opts: SchedulerOptions,
    private readonly abort: LazyAbort,
    readonly invoke: (name: string) => Promise<TaskRunRecord>,
  ) {
    this.name = entry.task.name;
    this.blackboard = opts.blackboard;
    this.clock = opts.clock;
    this.config = opts.services.config;
    this.cloud = opts.services.cloud;
    this.proxy = opts.services.proxy;
    this.journal = opts.journal;
    this.log = entry.log;
    this.sleep = (ms) => opts.clock.sleep(ms, abort.signal);
  }

  get signal(): AbortSignal {
    return this.abort.signal;
  }
}

/**
 * A run's AbortSignal, made only when the task reads it (most runs never do, and an
 * AbortController costs more than the rest of a run's bookkeeping). An abort before the first
 * read yields a signal already aborted with that reason.
 */
class LazyAbort {
  private controller?: AbortController;
  private reason?: { value: unknown };

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.reason) this.controller.abort(this.reason.value);
    }
    return this.controller.signal;
  }

  abort(reason: unknown): void {
    if (this.controller) this.controller.abort(reason);
    else this.reason ??= { value: reason };
  }
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | null)?.then === 'function';
}

/** The error of a failed run, with a registered code when the thrown value has none. */
function failureOf(err: unknown): { code: string; message: string } {
  const { code, message } = describeError(err);
  return { code: code === undefined ? 'GOV_ERR_TASK_FAILED' : String(code), message };
}

/** node-cron's own log lines (overlap and missed-fire notices) go to the task's logger at debug. */
function cronLogger(log: Logger): CronLogger {
  return {
    info: (message) => log.debug({ source: 'node-cron' }, message),
    warn: (message) => log.debug({ source: 'node-cron' }, message),
    error: (message, err) => log.error({ source: 'node-cron', err: err ?? message }, String(message)),
    debug: (message) => log.debug({ source: 'node-cron' }, String(message)),
  };
}
