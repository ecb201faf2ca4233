import type { Logger } from 'pino';
import { startAdminServer } from './admin.js';
import { loadAdminSecret, NonceStore } from './admin-auth.js';
import { RealClock, type Clock } from './clock.js';
import { createInstanceCloud } from './cloud/factory.js';
import type { GovernorConfig } from './config-types.js';
import { Governor } from './governor.js';
import { createMetrics } from './metrics.js';
import { controlRoutes } from './operator/control-routes.js';
import { processAlive } from './process-alive.js';
import { statusPageRoutes } from './status-page/routes.js';
import { cachePurgeRoute } from '../proxy/admin-routes.js';
import { launchProxy } from '../proxy/cluster.js';

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
 * Runs one instance of the fleet in this process on the configured cloud adapter: the proxy,
 * the governor with its tasks, and the admin API (state, journal, status page, metrics and the
 * signed control routes). Launches copy this instance (local: same program, arguments and
 * environment with a new GOVERNOR_INSTANCE_ID; EC2: same image, type, network and user data).
 * Contract: the instance is marked running only once the proxy and admin API listen; it stops
 * when the controlled-shutdown task sets `shutdown.done`, on stop() (draining first), or when
 * the region owner process is gone.
 */
export async function runInstance(opts: InstanceOptions): Promise<RunningInstance> {
  const clock: Clock = new RealClock();
  const secret = loadAdminSecret({ file: opts.config.admin.secretFile });
  const { cloud, id, config } = await createInstanceCloud({ config: opts.config, clock, log: opts.log, instanceId: opts.instanceId });
  const instanceLog = opts.log.child({ instance: id });
  const adminLog = instanceLog.child({ part: 'admin' });
  const proxy = await launchProxy(config.proxy, { log: instanceLog.child({ part: 'proxy' }) });
  const governor = new Governor({ config, clock, cloud, log: instanceLog, proxy });
  const { blackboard, journal } = governor;
  const metrics = createMetrics({ blackboard, journal, proxy });
  // One nonce store for every signed route: a nonce is good once, on one route.
  const nonceStore = new NonceStore(config.admin.maxSkewMs);
  const maxSkewMs = config.admin.maxSkewMs;
  const admin = await startAdminServer({
    host: config.admin.host,
    port: config.admin.port,
    blackboard,
    journal,
    isReady: () => proxy.isReady() && blackboard.get('shutdown.phase') === undefined,
    log: adminLog,
    meta: () => governor.meta(),
    routes: [
      ...statusPageRoutes({ blackboard, journal, clock }),
      metrics.route,
      ...controlRoutes({
        blackboard,
        journal,
        clock,
        cloud,
        invoke: (name) => governor.scheduler.invoke(name),
        secret,
        nonceStore,
        maxSkewMs,
        log: adminLog,
      }),
      cachePurgeRoute(proxy, { secret, clock, maxSkewMs, nonceStore, blackboard, log: adminLog }),
    ],
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
      const controlled = governor.blackboard.get('shutdown.done') === true;
      if (!controlled) await proxy.drain(config.shutdown.drainTimeoutMs);
      await governor.stop();
      // A local instance that stops is gone for good; an EC2 instance whose service stops
      // (a restart, an upgrade) stays a member unless its controlled shutdown terminated it.
      if (!controlled && config.cloud.adapter === 'local') await cloud.terminateSelf().catch(() => undefined);
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
