import type { Logger } from 'pino';
import { Blackboard } from './blackboard.js';
import type { Clock } from './clock.js';
import { describeError } from './errors.js';
import type { Cloud, Identity } from './cloud/port.js';
import type { GovernorConfig } from './config-types.js';
import { Journal } from './journal.js';
import { Scheduler } from './scheduler.js';
import { loadTasks } from './task-loader.js';
import type { Task } from './task.js';
import type { ProxyControl } from '../proxy/types.js';
import { packageVersion } from './package-info.js';

export interface GovernorParts {
  config: GovernorConfig;
  clock: Clock;
  cloud: Cloud;
  log: Logger;
  /** Absent when the governor runs without a proxy. */
  proxy?: ProxyControl;
  /** Tasks to run; when absent they are loaded from config.tasks. */
  tasks?: Task[];
}

/**
 * One governor: the blackboard, the journal and the scheduler running the configured tasks.
 * It owns no sockets and no process: the instance runner (./instance.ts) adds the proxy and
 * the admin API, the simulator adds models. Contract: `start()` rejects (GOV_ERR_TASK_LOAD)
 * before anything runs when a task module is broken, but a failing cloud (identity) is
 * journaled and does not stop it; `stop()` waits for running tasks up to
 * config.tasks.stopDeadlineMs.
 */
export class Governor {
  readonly blackboard: Blackboard;
  readonly journal: Journal;
  readonly scheduler: Scheduler;
  readonly config: GovernorConfig;
  readonly clock: Clock;
  readonly cloud: Cloud;
  private identity?: Identity;

  constructor(private readonly parts: GovernorParts) {
    this.config = parts.config;
    this.clock = parts.clock;
    this.cloud = parts.cloud;
    this.blackboard = new Blackboard(parts.clock);
    this.journal = new Journal({ clock: parts.clock, blackboard: this.blackboard, log: parts.log });
    this.scheduler = new Scheduler({
      clock: parts.clock,
      blackboard: this.blackboard,
      journal: this.journal,
      log: parts.log,
      services: { config: parts.config, cloud: parts.cloud, proxy: parts.proxy },
    });
  }

  /** Loads the tasks, records who this governor is, starts the schedules. */
  async start(): Promise<void> {
    const tasks = this.parts.tasks ?? (await loadTasks(this.config.tasks));
    try {
      this.identity = await this.cloud.identity();
      this.blackboard.set('governor.identity', this.identity);
    } catch (err) {
      // the fleet task asks again on its every run; a cloud hiccup must not keep a governor down
      this.journal.record({ kind: 'error', name: 'governor.start', reason: `identity unavailable: ${describeError(err).message}` });
    }
    this.blackboard.set('governor.startedAt', this.clock.now());
    this.blackboard.set('governor.version', packageVersion());
    this.blackboard.set('governor.config', this.config);
    for (const task of tasks) this.scheduler.add(task);
    this.scheduler.start();
    this.journal.record({
      kind: 'info',
      name: 'governor.start',
      reason: `governor ${this.identity?.id ?? '(identity pending)'} started with ${tasks.length} tasks`,
      data: { tasks: tasks.map((t) => t.name) },
    });
  }

  async stop(): Promise<{ abandoned: string[] }> {
    return this.scheduler.stop(this.config.tasks.stopDeadlineMs);
  }

  /** Metadata for /state. */
  meta(): Record<string, unknown> {
    return {
      identity: this.identity,
      version: packageVersion(),
      startedAt: this.blackboard.get('governor.startedAt'),
      now: this.clock.now(),
    };
  }
}
