import type { Logger } from 'pino';
import type { BlackboardApi } from './blackboard-types.js';
import type { Clock } from './clock.js';
import type { Cloud } from './cloud/port.js';
import type { GovernorConfig } from './config-types.js';
import type { JournalApi } from './journal-types.js';
import type { ProxyControl } from '../proxy/types.js';

/**
 * A task (DESIGN.md convention 4): a small typed record the scheduler runs on its schedule.
 * A module in tasks/ default-exports one Task (or a factory `() => Task`).
 */
export interface Task {
  /** Unique; its run record is on the blackboard under `tasks.<name>`. */
  name: string;
  /** node-cron expression with seconds (6 fields), e.g. every second: star-slash-1 then five stars. */
  schedule: string;
  /** A run still going after this is aborted (ctx.signal) and recorded as timed out. */
  timeoutMs: number;
  run(ctx: TaskContext): Promise<void> | void;
}

export interface TaskContext {
  readonly name: string;
  readonly blackboard: BlackboardApi;
  readonly clock: Clock;
  readonly config: GovernorConfig;
  readonly cloud: Cloud;
  /** Absent when the governor runs without a proxy. */
  readonly proxy?: ProxyControl;
  readonly journal: JournalApi;
  readonly log: Logger;
  /** Aborted at the task's timeout or when the governor stops. */
  readonly signal: AbortSignal;
  /** Runs another task now (at most one run of a task at a time; joins a run in progress). */
  invoke(name: string): Promise<TaskRunRecord>;
  /** clock.sleep bound to this run's signal: multi-phase tasks await it between phases. */
  sleep(ms: number): Promise<void>;
}

export type TaskOutcome = 'ok' | 'error' | 'timeout' | 'running';

/** What the scheduler records under `tasks.<name>` after every run. */
export interface TaskRunRecord {
  name: string;
  lastStart: number;
  /** ms; undefined while running. */
  durationMs?: number;
  outcome: TaskOutcome;
  error?: { code?: string; message: string };
  runs: number;
  failures: number;
  /** Fires skipped because a run was still going, or missed while the loop was blocked. */
  skipped: number;
}
