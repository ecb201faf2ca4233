import type { Logger } from 'pino';
import type { Clock } from '../clock.js';
import { GovError, describeError } from '../errors.js';
import { FailureInjector, type CloudMethod } from './failures.js';
import { newInstanceId } from './ids.js';
import type {
  Cloud,
  Command,
  Endpoints,
  Identity,
  InstanceInfo,
  InstanceState,
  LaunchRequest,
  LaunchResult,
  SignalSummary,
} from './port.js';
import { checkId, checkLaunchRequest, normalizeEndpoints, normalizeSummary } from './port-input.js';
import { LocalRegistry, type InstanceRecord } from './registry.js';
import { spawnDetached, type SpawnSpec } from './spawn.js';

export interface LocalCloudOptions {
  /** The registry's state directory (shared by every instance of the local region). */
  stateDir: string;
  fleet: string;
  region: string;
  /** This instance's id (a started instance reads it from GOVERNOR_INSTANCE_ID). */
  selfId: string;
  clock: Clock;
  /**
   * How launch() starts the new instance (usually `selfReplicationSpec()`: the same program and
   * config); null creates records only, for a harness that starts each new governor itself.
   */
  spawn: SpawnSpec | null;
  /** Injected failures; pass one injector to several adapters for a region-wide outage. */
  failures?: FailureInjector;
  /** Receives warnings about unreadable registry files. */
  log?: Logger;
}

/** Any failure of a call as a coded cloud error (GovErrors pass through). */
function asCloudError(method: CloudMethod, err: unknown): GovError {
  if (err instanceof GovError) return err;
  return new GovError('GOV_ERR_CLOUD_UNAVAILABLE', `${method}: ${describeError(err).message}`, { method }, { cause: err });
}

/**
 * The Cloud port over a LocalRegistry (DESIGN.md "The embedded default"): the embedded default
 * region on one machine, and the fake every test uses.
 *
 * Contract, beyond the port's: an instance is a real OS process started detached by launch()
 * (unless `spawn` is null), with its output in the registry's logs folder; a launch token is
 * claimed before anything starts, so a token launches at most one instance even across
 * processes; markRunning records this process's pid, and a member whose process is gone is
 * marked terminated by the next listing; terminateSelf only records the end (the caller then
 * exits). States move pending -> running -> leaving -> terminated, never back: markRunning after
 * leaving, or any change after terminated, rejects with GOV_ERR_CLOUD_BAD_STATE. Every call
 * consults `failures` first, so an injected failure changes nothing.
 */
export class LocalCloud implements Cloud {
  readonly failures: FailureInjector;
  readonly registry: LocalRegistry;
  private readonly me: Identity;
  private readonly spawnSpec: SpawnSpec | null;

  constructor(opts: LocalCloudOptions) {
    this.me = { id: checkId('selfId', opts.selfId), fleet: opts.fleet, region: opts.region };
    this.registry = new LocalRegistry(opts.stateDir, { clock: opts.clock, log: opts.log });
    this.spawnSpec = opts.spawn;
    this.failures = opts.failures ?? new FailureInjector();
  }

  identity(): Promise<Identity> {
    return this.call('identity', async () => ({ ...this.me }));
  }

  listFleet(): Promise<InstanceInfo[]> {
    return this.call('listFleet', () => this.registry.list(this.me.fleet, this.me.region));
  }

  launch(req: LaunchRequest): Promise<LaunchResult> {
    return this.call('launch', async () => {
      const { token, slot, launchedBy } = checkLaunchRequest(req);
      const { fleet, region } = this.me;
      const claim = await this.registry.claimToken({ fleet, region, token, id: newInstanceId() });
      if (!claim.created) return claim;
      await this.registry.createInstance({ id: claim.id, fleet, region, launchedBy, launchSlot: slot });
      if (this.spawnSpec) await this.start(claim.id, this.spawnSpec);
      return claim;
    });
  }

  markRunning(endpoints: Endpoints): Promise<void> {
    return this.call('markRunning', async () => {
      const stored = normalizeEndpoints(endpoints);
      await this.updateSelf('markRunning', ['pending', 'running'], (r) => ({
        ...r,
        state: 'running',
        endpoints: stored,
        pid: process.pid,
      }));
    });
  }

  markLeaving(): Promise<void> {
    return this.call('markLeaving', () =>
      this.updateSelf('markLeaving', ['pending', 'running', 'leaving'], (r) =>
        r.state === 'leaving' ? r : { ...r, state: 'leaving' },
      ),
    );
  }

  terminateSelf(): Promise<void> {
    return this.call('terminateSelf', async () => {
      await this.registry.markTerminated(this.me.id, 'terminated itself');
    });
  }

  publishSummary(summary: SignalSummary): Promise<void> {
    return this.call('publishSummary', async () => {
      const stored = normalizeSummary(summary);
      await this.updateSelf('publishSummary', ['pending', 'running', 'leaving'], (r) => ({ ...r, summary: stored }));
    });
  }

  readCommands(): Promise<Command[]> {
    return this.call('readCommands', () => this.registry.commands.readFor(this.me));
  }

  ackCommand(id: string, outcome: string): Promise<void> {
    return this.call('ackCommand', () => this.registry.commands.ack(this.me, id, outcome));
  }

  /** Starts the new instance's process; one that cannot start is recorded terminated, and the launch rejects. */
  private async start(id: string, spec: SpawnSpec): Promise<void> {
    let pid: number;
    try {
      pid = spawnDetached(spec, id, this.registry.logFile(id));
    } catch (err) {
      await this.registry.markTerminated(id, `could not start: ${describeError(err).message}`);
      throw err;
    }
    await this.registry.recordProcess(id, pid);
  }

  private async updateSelf(
    method: CloudMethod,
    allowed: readonly InstanceState[],
    change: (current: InstanceRecord) => InstanceRecord,
  ): Promise<void> {
    await this.registry.update(this.me.id, (current) => {
      if (!allowed.includes(current.state)) {
        throw new GovError('GOV_ERR_CLOUD_BAD_STATE', `${method} is not allowed for instance ${this.me.id} in state ${current.state}`, {
          method,
          id: this.me.id,
          state: current.state,
        });
      }
      return change(current);
    });
  }

  /** Runs one port call: injected failure first, then `body`; any failure becomes a coded GovError. */
  private async call<T>(method: CloudMethod, body: () => Promise<T>): Promise<T> {
    this.failures.check(method);
    try {
      return await body();
    } catch (err) {
      throw asCloudError(method, err);
    }
  }
}
