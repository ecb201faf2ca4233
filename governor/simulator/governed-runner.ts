import * as FakeTimers from '@sinonjs/fake-timers';
import { pino } from 'pino';
import type { Clock, TimerHandle } from '../clock.js';
import { VirtualClock } from '../virtual-clock.js';
import { FailureInjector, type CloudMethod } from '../cloud/failures.js';
import { MemoryRegion, type MemoryCloud } from '../cloud/memory.js';
import { parseConfig, type ConfigInput } from '../config.js';
import type { GovernorConfig } from '../config-types.js';
import { isGovError } from '../errors.js';
import { Governor } from '../governor.js';
import type { JournalEntry } from '../journal-types.js';
import { loadTasks } from '../task-loader.js';
import type { Task } from '../task.js';
import { SHUTDOWN_KEYS, type ShutdownRequest } from '../../tasks/controlled-shutdown.js';
import { applyBusyLoop } from './central-runner.js';
import { cronFiresAt } from './cron-ticks.js';
import { duplicateSlots, fleetViolations } from './invariants.js';
import { FleetModel, type RunRecord, type ScaleEvent, type SecondRecord } from './fleet-model.js';
import type { SimInstance } from './instance-model.js';
import { seededRng, uniform, type Rng } from './rng.js';
import { LaunchLuck, checkRunSpec, type RunSpec } from './spec.js';
import { trafficAt } from './traces.js';

/**
 * How the governors' tasks are fired:
 * - 'cron': Governor.start() as in production: node-cron schedules every task, driven by the
 *   fake timers of the VirtualClock (faithful, but node-cron's date handling dominates the cost);
 * - 'tick': the same Governors, Scheduler and tasks; the simulator fires each task through
 *   `scheduler.fire` (what node-cron's callback does: a fire while the previous run is going
 *   is skipped and counted) at the whole seconds its own cron schedule names (UTC), in the
 *   configured task order, letting each task's runs settle before the next task fires. Its
 *   runs must settle without virtual time passing (they do: the in-memory cloud answers in
 *   microtasks). About 4x faster.
 */
export type Driver = 'tick' | 'cron';

export interface GovernedOptions {
  /** The rule folder the governors load (the real rules task reads it). */
  rulesDir: string;
  driver?: Driver;
  /** Governor configuration (a config file's content); fleet, region, rulesDir, log and the bounds are set by the run. */
  config?: ConfigInput;
}

/** Virtual start of every governed run: Monday 2 March 2026, 00:00 UTC. */
export const SIM_START_MS = Date.UTC(2026, 2, 2);
const FLEET = 'sim';
const REGION = 'sim-1';
/** A schedule that never fires within a run (runs are at most 31 days): the tick driver fires instead. */
const NEVER = '0 0 0 1 1 *';
/** Real time the cron driver waits at most for tasks doing file I/O (the rules task) to finish a second. */
const IO_SETTLE_LIMIT_MS = 10_000;

/** A governor's clock off by a fixed offset: now() reads skewed, timers run on the shared clock. */
export class SkewedClock implements Clock {
  constructor(
    private readonly base: Clock,
    readonly offsetMs: number,
  ) {}
  now(): number {
    return this.base.now() + this.offsetMs;
  }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    return this.base.setTimeout(fn, ms);
  }
  clearTimeout(handle: TimerHandle): void {
    this.base.clearTimeout(handle);
  }
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return this.base.sleep(ms, signal);
  }
}

/** Cloud API faults: each call fails with probability rate/2 as an error, else rate/2 as a throttle. */
class SplitFailures extends FailureInjector {
  private readonly throttles = new FailureInjector();
  constructor(rate: number, rng: Rng) {
    super();
    this.setFailureRate(rate / 2, rng, 'error');
    this.throttles.setFailureRate(rate / 2, rng, 'throttle');
  }
  override check(method: CloudMethod): void {
    super.check(method);
    this.throttles.check(method);
  }
}

interface Node {
  id: string;
  instance: SimInstance;
  cloud: MemoryCloud;
  clock: SkewedClock;
  governor?: Governor;
  /** Seconds from the start when it finishes booting; undefined once booted. */
  bootAt?: number;
  neverBoots: boolean;
  /** Booted, but markRunning has not succeeded yet. */
  marking: boolean;
  restartAt?: number;
  leaveSeen: boolean;
}

interface TickTask {
  name: string;
  fires: (ms: number) => boolean;
}

const realImmediate = () => new Promise<void>((resolve) => FakeTimers.timers.setTimeout(() => resolve(), 0));

/**
 * Runs the real governor (real tasks, real rules, real coordination) for every instance of a
 * fleet in one process under one VirtualClock, against the fleet model, one second at a time:
 * the model serves the second, virtual time moves 1 s (firing the tasks), then the simulator
 * books what the governors did through the in-memory cloud: a launch becomes an instance that
 * boots after its drawn boot time and then gets its own Governor; a governor whose controlled
 * shutdown completes (`shutdown.done`) is stopped and its instance removed. Faults: cloud API
 * failures, launches that never boot, a busy loop, clock skew per governor, governor crashes
 * (restarted with an empty blackboard after restartS).
 *
 * Invariants are checked every second against the cloud's records and reported in
 * `violations`: members within [min, max], at most one leaving, at least one running, and a
 * journal entry with its reason for every launch and leave. The VirtualClock is installed for
 * the run and always uninstalled.
 */
export async function runGoverned(input: RunSpec, opts: GovernedOptions): Promise<RunRecord> {
  const spec = checkRunSpec(input);
  const clock = new VirtualClock(SIM_START_MS);
  try {
    const run = new GovernedRun(spec, opts, clock, await prepare(spec, opts));
    return await run.execute();
  } finally {
    clock.uninstall();
  }
}

async function prepare(spec: RunSpec, opts: GovernedOptions): Promise<{ config: GovernorConfig; tasks: Task[] }> {
  const base = opts.config ?? {};
  const config = parseConfig(
    {
      ...base,
      fleet: FLEET,
      region: REGION,
      rulesDir: opts.rulesDir,
      scaling: {
        ...base.scaling,
        minInstances: spec.bounds.minInstances,
        maxInstances: spec.bounds.maxInstances,
        targetBusy: spec.bounds.targetBusy,
      },
      log: { level: 'silent' },
    },
    'simulation',
    {},
  );
  return { config, tasks: await loadTasks(config.tasks) };
}

class GovernedRun {
  private readonly region: MemoryRegion;
  private readonly fleet: FleetModel;
  private readonly nodes = new Map<string, Node>();
  private readonly luck: LaunchLuck;
  private readonly skewRng: Rng;
  private readonly crashRng: Rng;
  private readonly crashTimes: number[];
  private readonly log = pino({ level: 'silent' });
  private readonly seconds: SecondRecord[] = [];
  private readonly events: ScaleEvent[] = [];
  private readonly violations: string[] = [];
  private readonly stopping: Array<Promise<unknown>> = [];
  private readonly governorTasks: Task[];
  private readonly tickTasks: TickTask[] = [];
  private readonly busyLoop: { victim?: SimInstance } = {};
  private started = false;

  constructor(
    private readonly spec: RunSpec,
    opts: GovernedOptions,
    private readonly clock: VirtualClock,
    private readonly setup: { config: GovernorConfig; tasks: Task[] },
  ) {
    let ids = 0;
    this.region = new MemoryRegion({
      clock,
      failures: new SplitFailures(spec.faults.apiFailureRate, seededRng(spec.seed ^ 0x27d4eb2f)),
      newId: () => `i-${(++ids).toString(16).padStart(12, '0')}`,
    });
    this.fleet = new FleetModel(spec.instance);
    this.luck = new LaunchLuck(spec);
    this.skewRng = seededRng(spec.seed ^ 0x165667b1);
    this.crashRng = seededRng(spec.seed ^ 0x1b873593);
    const length = spec.trace.rates.length;
    this.crashTimes = Array.from({ length: spec.faults.crashes }, () => Math.floor(uniform(this.crashRng, 60, Math.max(61, length - 60)))).sort(
      (a, b) => a - b,
    );
    if ((opts.driver ?? 'tick') === 'tick') {
      this.governorTasks = setup.tasks.map((t) => ({ name: t.name, schedule: NEVER, timeoutMs: t.timeoutMs, run: t.run.bind(t) }));
      this.tickTasks = setup.tasks.map((t) => ({ name: t.name, fires: cronFiresAt(t.schedule, t.name) }));
    } else {
      this.governorTasks = setup.tasks;
    }
  }

  async execute(): Promise<RunRecord> {
    const { trace } = this.spec;
    for (let i = 0; i < this.spec.initialInstances; i++) {
      const record = this.region.createInstance({ fleet: FLEET, region: REGION, launchedBy: 'operator' });
      const node = this.addNode(record.id, false);
      node.bootAt = 0;
    }
    for (let t = 0; t < trace.rates.length; t++) {
      await this.lifecycle(t);
      this.seconds.push(this.fleet.step(t, trafficAt(trace, t), 1));
      await this.clock.advance(1000);
      await this.fireTasks();
      this.book(t + 1);
      this.checkInvariants(t + 1);
      this.crashes(t + 1);
      if (t % 60 === 59) this.spec.onProgress?.((t + 1) / trace.rates.length);
    }
    await this.stopAll();
    return { policy: 'governor', seconds: this.seconds, events: this.events, duplicateLaunches: duplicateSlots(this.region.list(FLEET, REGION, { includeTerminated: true })).length, violations: this.violations };
  }

  private addNode(id: string, neverBoots: boolean): Node {
    const skew = Math.round(uniform(this.skewRng, -this.spec.faults.maxSkewMs, this.spec.faults.maxSkewMs));
    const node: Node = {
      id,
      instance: this.fleet.create(id, this.clock),
      cloud: this.region.cloudFor(id),
      clock: new SkewedClock(this.clock, skew),
      neverBoots,
      marking: false,
      leaveSeen: false,
    };
    this.nodes.set(id, node);
    return node;
  }

  /** Boots, markRunning retries, restarts after crashes, the busy-loop fault: at second t. */
  private async lifecycle(t: number): Promise<void> {
    for (const node of [...this.nodes.values()]) {
      if (node.bootAt !== undefined && node.bootAt <= t) {
        node.bootAt = undefined;
        if (node.neverBoots) {
          this.region.markTerminated(node.id, 'never booted: the process died while booting');
          this.removeNode(node);
          this.events.push({ t, kind: 'lost', id: node.id, reason: 'never booted: the instance died while booting' });
          continue;
        }
        node.marking = true;
        node.restartAt = t;
      }
      if (node.restartAt !== undefined && node.restartAt <= t) {
        node.restartAt = (await this.startGovernor(node)) ? undefined : t + 1;
      }
      if (node.marking) await this.markRunning(node);
    }
    applyBusyLoop(this.spec, t, () => [...this.nodes.values()].find((n) => n.instance.isReady())?.instance, this.busyLoop);
  }

  /**
   * Starts the node's governor; false when start() failed (its identity() call met an injected
   * failure): like a process restarted by its supervisor, it is tried again the next second.
   */
  private async startGovernor(node: Node): Promise<boolean> {
    const { config } = this.setup;
    const governor = new Governor({ config, clock: node.clock, cloud: node.cloud, log: this.log, proxy: node.instance, tasks: this.governorTasks });
    try {
      await governor.start();
    } catch {
      this.stopping.push(governor.scheduler.stop(0));
      return false;
    }
    node.governor = governor;
    return true;
  }

  /** What the instance runner does once the proxy listens; retried every second while the cloud fails. */
  private async markRunning(node: Node): Promise<void> {
    try {
      await node.cloud.markRunning({ proxy: `http://${node.id}.sim.invalid:8080` });
      node.marking = false;
      node.instance.setReady(true);
      this.started = true;
    } catch (err) {
      if (isGovError(err, 'GOV_ERR_CLOUD_BAD_STATE')) node.marking = false;
    }
  }

  private async fireTasks(): Promise<void> {
    if (this.tickTasks.length === 0) {
      await this.settleIo();
      return;
    }
    // In the configured task order, each task's runs settle before the next task fires, as under
    // node-cron (fake timers settle promises between timers): a rules run finishing in this
    // second is seen by the scale-up run of this second.
    const now = this.clock.now();
    const schedulers = [...this.nodes.values()].flatMap((node) => (node.governor ? [node.governor.scheduler] : []));
    for (const task of this.tickTasks) {
      if (task.fires(now)) await Promise.all(schedulers.map((scheduler) => scheduler.fire(task.name)));
    }
  }

  /** Cron driver: lets file I/O started by this second's runs (the rules task) finish before time moves on. */
  private async settleIo(): Promise<void> {
    const deadline = performance.now() + IO_SETTLE_LIMIT_MS;
    const busy = () => [...this.nodes.values()].some((n) => n.governor?.blackboard.get<{ outcome: string }>('tasks.rules')?.outcome === 'running');
    while (busy() && performance.now() < deadline) await realImmediate();
  }

  /** Books launches, leaves and completed shutdowns the governors made during the last second. */
  private book(t: number): void {
    for (const record of this.region.list(FLEET, REGION)) {
      if (this.nodes.has(record.id) || record.launchedBy === 'operator') continue;
      const draw = this.luck.next();
      const node = this.addNode(record.id, draw.neverBoots);
      node.bootAt = t + draw.bootS;
      const entry = this.journalOf(record.launchedBy, (e) => e.kind === 'action' && e.name === 'launch' && e.data?.id === record.id);
      const decided = this.journalOf(record.launchedBy, (e) => e.kind === 'action' && e.name === 'scale-up');
      if (!entry) this.violations.push(`t=${t}s: launch of ${record.id} by ${record.launchedBy} has no journal entry`);
      this.events.push({ t, kind: 'launch', id: record.id, reason: decided?.reason ?? entry?.reason ?? 'unknown' });
    }
    for (const node of [...this.nodes.values()]) {
      const bb = node.governor?.blackboard;
      if (!bb) continue;
      const request = bb.get<ShutdownRequest>(SHUTDOWN_KEYS.request);
      if (request && !node.leaveSeen) {
        node.leaveSeen = true;
        const entry = this.journalOf(node.id, (e) => e.kind === 'action' && e.name === request.by);
        if (!entry) this.violations.push(`t=${t}s: leave of ${node.id} (by ${request.by}) has no journal entry`);
        this.events.push({ t, kind: 'leave', id: node.id, reason: request.reason });
      }
      if (bb.get(SHUTDOWN_KEYS.done) === true) this.removeNode(node);
    }
  }

  private journalOf(id: string | undefined, match: (e: JournalEntry) => boolean): JournalEntry | undefined {
    const journal = id ? this.nodes.get(id)?.governor?.journal : undefined;
    return journal?.query({ limit: 200 }).reverse().find(match);
  }

  private removeNode(node: Node): void {
    if (node.governor) this.stopping.push(node.governor.stop());
    node.governor = undefined;
    this.nodes.delete(node.id);
    this.fleet.remove(node.id);
  }

  private checkInvariants(t: number): void {
    if (!this.started) return;
    for (const problem of fleetViolations(this.region.list(FLEET, REGION), this.spec.bounds)) this.violations.push(`t=${t}s: ${problem}`);
  }

  /** Crash faults due at second t: a random live governor not shutting down stops at once; it restarts empty. */
  private crashes(t: number): void {
    while (this.crashTimes.length > 0 && this.crashTimes[0] <= t) {
      this.crashTimes.shift();
      const candidates = [...this.nodes.values()].filter((n) => n.governor && !n.leaveSeen && !n.marking);
      if (candidates.length === 0) continue;
      const victim = candidates[Math.floor(this.crashRng() * candidates.length)];
      this.stopping.push(victim.governor!.scheduler.stop(0));
      victim.governor = undefined;
      victim.restartAt = t + this.spec.faults.restartS;
    }
  }

  private async stopAll(): Promise<void> {
    for (const node of this.nodes.values()) if (node.governor) this.stopping.push(node.governor.scheduler.stop(0));
    const all = Promise.allSettled(this.stopping);
    let done = false;
    void all.then(() => (done = true));
    for (let i = 0; i < 1000 && !done; i++) await this.clock.advance(100);
  }
}
