import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { LocalRegistry } from '../cloud/registry.js';
import { spawnDetached } from '../cloud/spawn.js';
import type { GovernorConfig } from '../config-types.js';
import { GovError } from '../errors.js';
import { processAlive } from '../process-alive.js';
import { startDemoOrigin } from './origin.js';
import { startFrontDoor } from './front-door.js';
import { PROXY_NODE_FLAGS, proxyProcessEnv } from '../../proxy/process-settings.js';

export interface RegionOptions {
  config: GovernorConfig;
  /** The config file instances are started with (same program, same config). */
  configFile?: string;
  frontDoorPort: number;
  /** Use this origin instead of starting the demo origin. */
  origin?: string;
  /** The CLI entry point instances run (`<cli> start`). */
  cliPath: string;
  log: Logger;
}

export interface RunningRegion {
  frontDoorUrl: string;
  originUrl: string;
  /** The demo origin's slow switch (absent with an operator's origin). */
  setOriginSlow?: (ms: number) => void;
  firstInstanceId: string;
  /** Stops the front door, every instance of the fleet (TERM, then KILL after the deadline) and the origin. */
  stop(): Promise<void>;
}

const STOP_DEADLINE_MS = 15_000;
const POLL_MS = 100;

/** Takes the state directory for this process; a live owner means a region is already up there. */
function acquireLock(stateDir: string): () => void {
  mkdirSync(stateDir, { recursive: true });
  const lockFile = join(stateDir, 'up.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(lockFile, 'wx');
      writeFileSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(lockFile, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = Number(readFileSync(lockFile, 'utf8'));
      if (Number.isInteger(owner) && owner > 0 && processAlive(owner)) {
        throw new GovError(
          'GOV_ERR_REGION_RUNNING',
          `a region is already up in ${stateDir} (process ${owner}); stop it first or use another state directory`,
          { stateDir, owner },
        );
      }
      rmSync(lockFile, { force: true });
    }
  }
  throw new GovError('GOV_ERR_REGION_RUNNING', `could not take the lock ${join(stateDir, 'up.lock')}`, { stateDir });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

/**
 * `governor up`: the embedded default region on this machine — a demo origin, a front door that
 * balances over the fleet's ready instances, and the first instance as a real detached process.
 * Contract: refuses (GOV_ERR_REGION_RUNNING) when another live `up` owns the state directory;
 * `stop()` leaves no instance process behind.
 */
export async function startRegion(opts: RegionOptions): Promise<RunningRegion> {
  const { config, log } = opts;
  const releaseLock = acquireLock(config.stateDir);
  const registry = new LocalRegistry(config.stateDir);
  let origin: Awaited<ReturnType<typeof startDemoOrigin>> | undefined;
  let frontDoor: Awaited<ReturnType<typeof startFrontDoor>>;
  try {
    origin = opts.origin ? undefined : await startDemoOrigin({ host: '127.0.0.1', port: 0 });
    frontDoor = await startFrontDoor({
      host: '127.0.0.1',
      port: opts.frontDoorPort,
      backends: async () =>
        (await registry.list(config.fleet, config.region)).map((r) => ({
          id: r.id,
          proxyUrl: r.endpoints?.proxy ?? '',
          adminUrl: r.endpoints?.admin,
          state: r.state,
        })),
      log: log.child({ part: 'front-door' }),
    });
  } catch (err) {
    // a busy port, say: give the state directory and the origin back before reporting it
    await origin?.close();
    releaseLock();
    throw err;
  }
  const originUrl = opts.origin ?? origin!.url;

  const first = await registry.createInstance({ fleet: config.fleet, region: config.region, launchedBy: 'operator' });
  const pid = spawnDetached(
    {
      command: process.execPath,
      args: [...PROXY_NODE_FLAGS, opts.cliPath, 'start', ...(opts.configFile ? ['--config', opts.configFile] : [])],
      cwd: process.cwd(),
      env: {
        ...proxyProcessEnv(),
        GOVERNOR_REGION_OWNER_PID: String(process.pid),
        GOVERNOR_STATE_DIR: config.stateDir,
        GOVERNOR_RULES_DIR: config.rulesDir,
        GOVERNOR_FLEET: config.fleet,
        GOVERNOR_REGION: config.region,
        GOVERNOR_ORIGIN: originUrl,
      },
    },
    first.id,
    registry.logFile(first.id),
  );
  await registry.recordProcess(first.id, pid);
  log.info({ id: first.id, instancePid: pid, logFile: registry.logFile(first.id) }, 'first instance started');

  const liveInstancePids = async (): Promise<number[]> =>
    (await registry.list(config.fleet, config.region))
      .map((r) => r.pid)
      .filter((pid): pid is number => typeof pid === 'number' && processAlive(pid));

  const stop = async () => {
    await frontDoor.close();
    const deadline = Date.now() + STOP_DEADLINE_MS;
    let live = await liveInstancePids();
    for (const pid of live) signal(pid, 'SIGTERM');
    while (live.length > 0 && Date.now() < deadline) {
      await sleep(POLL_MS);
      live = live.filter(processAlive);
    }
    for (const pid of live) signal(pid, 'SIGKILL');
    await registry.markAllTerminated(config.fleet, config.region);
    await origin?.close();
    releaseLock();
  };
  return {
    frontDoorUrl: frontDoor.url,
    originUrl,
    setOriginSlow: origin ? (ms) => origin.setSlow(ms) : undefined,
    firstInstanceId: first.id,
    stop,
  };
}
