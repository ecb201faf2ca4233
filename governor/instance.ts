import type { Logger } from 'pino';
import { startAdminServer } from './admin.js';
import { RealClock, type Clock } from './clock.js';
import { LocalCloud } from './cloud/local.js';
import { LocalRegistry } from './cloud/registry.js';
import { selfReplicationSpec } from './cloud/spawn.js';
import type { GovernorConfig } from './config-types.js';
import { Governor } from './governor.js';
import { processAlive } from './process-alive.js';
import { createProxy } from '../proxy/server.js';

export interface InstanceOptions {
  config: GovernorConfig;
  log: Logger;
  /** This instance's id in the local registry; when absent a first instance is registered. */
  instanceId?: string;
  /** pid of the `governor up` process that owns the region: when it is gone, this instance exits. */
  ownerPid?: number;
}

export interface RunningInstance {
  id: string;
  governor: Governor;
  proxyUrl: string;
  adminUrl: string;
  /** Resolves when the instance has stopped (controlled shutdown, signal, or owner gone). */
  stopped: Promise<string>;
  stop(reason: string): Promise<void>;
}

const OWNER_CHECK_MS = 1000;

/**
 * Runs one instance of the fleet in this process on the local adapter: the proxy, the governor
 * with its tasks, and the admin API. Launches copy this process (same program, same arguments,
 * same environment with a new GOVERNOR_INSTANCE_ID). Contract: the instance is marked running
 * only once the proxy and admin API listen; it stops when the controlled-shutdown task sets
 * `shutdown.done`, on stop(), or when the region owner process is gone.
 */
export async function runInstance(opts: InstanceOptions): Promise<RunningInstance> {
  const { config, log } = opts;
  const clock: Clock = new RealClock();
  const registry = new LocalRegistry(config.stateDir);
  const id =
    opts.instanceId ??
    (await registry.createInstance({ fleet: config.fleet, region: config.region, launchedBy: 'operator' })).id;
  const cloud = new LocalCloud({
    stateDir: config.stateDir,
    fleet: config.fleet,
    region: config.region,
    selfId: id,
    clock,
    spawn: selfReplicationSpec(),
  });
  const instanceLog = log.child({ instance: id });
  const proxy = await createProxy(config.proxy, { log: instanceLog.child({ part: 'proxy' }) });
  const governor = new Governor({ config, clock, cloud, log: instanceLog, proxy });
  const admin = await startAdminServer({
    host: config.admin.host,
    port: config.admin.port,
    blackboard: governor.blackboard,
    journal: governor.journal,
    isReady: () => proxy.isReady() && governor.blackboard.get('shutdown.phase') === undefined,
    log: instanceLog.child({ part: 'admin' }),
    meta: () => governor.meta(),
  });
  await governor.start();
  await cloud.markRunning({ proxy: proxy.url, admin: admin.url });
  instanceLog.info({ proxy: proxy.url, admin: admin.url }, 'instance running');

  let resolveStopped!: (reason: string) => void;
  const stopped = new Promise<string>((resolve) => (resolveStopped = resolve));
  let stopping: Promise<void> | undefined;
  let ownerTimer: ReturnType<Clock['setTimeout']> | undefined;

  const stop = (reason: string): Promise<void> => {
    stopping ??= (async () => {
      if (ownerTimer) clock.clearTimeout(ownerTimer);
      instanceLog.info({ reason }, 'instance stopping');
      await governor.stop();
      if (governor.blackboard.get('shutdown.done') !== true) await cloud.terminateSelf().catch(() => undefined);
      await admin.close();
      await proxy.close();
      resolveStopped(reason);
    })();
    return stopping;
  };

  governor.blackboard.watch('shutdown.done', (_key, value) => {
    if (value === true) void stop('controlled shutdown complete');
  });
  if (opts.ownerPid !== undefined) {
    const ownerPid = opts.ownerPid;
    const checkOwner = () => {
      if (!processAlive(ownerPid)) void stop(`region owner ${ownerPid} is gone`);
      else ownerTimer = clock.setTimeout(checkOwner, OWNER_CHECK_MS);
    };
    ownerTimer = clock.setTimeout(checkOwner, OWNER_CHECK_MS);
  }
  return { id, governor, proxyUrl: proxy.url, adminUrl: admin.url, stopped, stop };
}
