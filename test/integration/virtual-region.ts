import { pino } from 'pino';
import type { VirtualClock } from '../../governor/virtual-clock.js';
import type { GovernorConfig } from '../../governor/config-types.js';
import { Governor } from '../../governor/governor.js';
import { loadTasks } from '../../governor/task-loader.js';
import type { Task } from '../../governor/task.js';
import type { ProxySample } from '../../proxy/types.js';
import { SHUTDOWN_KEYS } from '../../tasks/controlled-shutdown.js';
import { FLEET, REGION, TestRegion, realDelay } from '../tasks/context.js';
import { FakeProxy, sampleOf } from '../tasks/fake-proxy.js';

/** What the region looked like after one step. */
export interface RegionStep {
  at: number;
  members: number;
  leaving: number;
  pending: number;
}

/**
 * N real governors (real scheduler, real tasks, real rules) in one process under virtual time,
 * on the local adapter with records only. The harness plays the part of the machines: it boots
 * a launched instance after `bootMs` (starts its governor and marks it running), stops a
 * governor whose controlled shutdown is done, and spreads `load` (in instance units: 1.0 keeps
 * one instance fully busy) evenly over the serving instances' proxies.
 */
export class VirtualRegion {
  readonly governors = new Map<string, Governor>();
  /** Governors that finished a controlled shutdown, kept for their journals. */
  readonly retired = new Map<string, Governor>();
  readonly proxies = new Map<string, FakeProxy>();
  readonly history: RegionStep[] = [];
  /** Instances whose governor is stuck: listed and running, but their governor does nothing. */
  readonly stuck = new Set<string>();
  load = 0;
  /** Makes the proxy of an instance whose governor starts (default: a FakeProxy). */
  makeProxy: (id: string) => FakeProxy = () => new FakeProxy();
  /** The next sample of a serving proxy carrying `share` of the load (default: busy = share, 100 requests per unit). */
  sampleFor: (share: number, proxy: FakeProxy, id: string) => ProxySample = (share) =>
    sampleOf({ busy: Math.min(1, share), requests: Math.round(share * 100) });
  private tasks: Task[] = [];

  private constructor(
    readonly clock: VirtualClock,
    readonly region: TestRegion,
    readonly config: GovernorConfig,
    readonly bootMs: number,
  ) {}

  static async create(clock: VirtualClock, config: GovernorConfig, bootMs = 5_000): Promise<VirtualRegion> {
    const vr = new VirtualRegion(clock, await TestRegion.create(clock), config, bootMs);
    vr.tasks = await loadTasks({ modules: [...config.tasks.modules], overrides: config.tasks.overrides });
    return vr;
  }

  /** Registers `count` running instances one virtual second apart and starts their governors. */
  async start(count: number): Promise<string[]> {
    const ids = await this.region.addRunning(count);
    for (const id of ids) await this.boot(id);
    return ids;
  }

  private async boot(id: string): Promise<void> {
    const proxy = this.makeProxy(id);
    const cloud = this.region.cloudFor(id);
    const governor = new Governor({
      config: this.config,
      clock: this.clock,
      cloud,
      log: pino({ level: 'silent' }),
      proxy,
      tasks: this.tasks,
    });
    await cloud.markRunning({});
    await governor.start();
    this.governors.set(id, governor);
    this.proxies.set(id, proxy);
  }

  /** Stops the governor of `id` (a crash or a hang); with `stuck` its record stays running. */
  async halt(id: string, opts: { stuck: boolean }): Promise<void> {
    await this.governors.get(id)?.stop();
    this.governors.delete(id);
    this.proxies.delete(id);
    if (opts.stuck) this.stuck.add(id);
  }

  /** Advances virtual time by `ms` in 1 s steps, playing the machines between steps. */
  async run(ms: number): Promise<void> {
    for (let elapsed = 0; elapsed < ms; elapsed += 1000) {
      this.spreadLoad();
      for (let t = 0; t < 1000; t += 250) {
        await realDelay(0);
        await this.clock.advance(250);
      }
      await this.reconcile();
    }
  }

  private spreadLoad(): void {
    const serving = [...this.proxies].filter(([, p]) => p.isReady());
    const share = serving.length + this.stuck.size > 0 ? this.load / (serving.length + this.stuck.size) : 0;
    for (const [id, proxy] of serving) proxy.next = this.sampleFor(share, proxy, id);
  }

  private async reconcile(): Promise<void> {
    for (const [id, governor] of this.governors) {
      if (governor.blackboard.get(SHUTDOWN_KEYS.done) === true) {
        await governor.stop();
        this.governors.delete(id);
        this.proxies.delete(id);
        this.retired.set(id, governor);
      }
    }
    const members = await this.region.registry.list(FLEET, REGION);
    for (const m of members) {
      if (m.state === 'pending' && !this.governors.has(m.id) && m.launchTime + this.bootMs <= this.clock.now()) {
        await this.boot(m.id);
      }
    }
    this.history.push({
      at: this.clock.now(),
      members: members.length,
      leaving: members.filter((m) => m.state === 'leaving').length,
      pending: members.filter((m) => m.state === 'pending').length,
    });
  }

  /** Every instance ever registered, terminated ones included, in launch order. */
  async allInstances() {
    return this.region.registry.list(FLEET, REGION, { includeTerminated: true });
  }

  async cleanup(): Promise<void> {
    for (const id of [...this.governors.keys()]) await this.halt(id, { stuck: false });
    await this.region.cleanup();
  }
}
