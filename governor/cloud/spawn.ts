import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { GovError } from '../errors.js';
import { proxyProcessEnv, withProxyNodeFlags } from '../../proxy/process-settings.js';

/** How the local adapter starts a new instance: a program, its arguments and extra environment. */
export interface SpawnSpec {
  command: string;
  args: string[];
  /** Added to the launcher's own environment. */
  env?: Record<string, string>;
  /** Defaults to the launcher's working directory (relative config and state paths stay valid). */
  cwd?: string;
}

/** The environment variable that tells a started instance its id. */
export const INSTANCE_ID_ENV = 'GOVERNOR_INSTANCE_ID';

/**
 * Self-replication: this very program, with the same Node flags, arguments and working directory,
 * plus the proxy's Node flags and malloc settings where this process lacks them
 * (../../proxy/process-settings.ts).
 */
export function selfReplicationSpec(): SpawnSpec {
  return {
    command: process.execPath,
    args: [...withProxyNodeFlags(process.execArgv), ...process.argv.slice(1)],
    env: proxyProcessEnv(),
    cwd: process.cwd(),
  };
}

function startFailure(spec: SpawnSpec, instanceId: string, cause?: unknown): GovError {
  const reason = cause instanceof Error ? `: ${cause.message}` : '';
  return new GovError(
    'GOV_ERR_CLOUD_UNAVAILABLE',
    `could not start ${spec.command} for instance ${instanceId}${reason}`,
    { command: spec.command, instanceId },
    { cause },
  );
}

/**
 * Starts `spec` as a detached process (its own process group; it outlives the launcher), with
 * stdout and stderr appended to `logFile` and the launcher's environment plus `spec.env` plus
 * GOVERNOR_INSTANCE_ID=`instanceId`. Returns its pid. A program that cannot be started throws
 * GOV_ERR_CLOUD_UNAVAILABLE.
 */
export function spawnDetached(spec: SpawnSpec, instanceId: string, logFile: string): number {
  mkdirSync(dirname(logFile), { recursive: true });
  const out = openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(spec.command, spec.args, {
      detached: true,
      cwd: spec.cwd,
      stdio: ['ignore', out, out],
      env: { ...process.env, ...spec.env, [INSTANCE_ID_ENV]: instanceId },
    });
  } catch (err) {
    throw startFailure(spec, instanceId, err);
  } finally {
    closeSync(out);
  }
  // A program that cannot be started (ENOENT, EACCES) gets no pid and emits 'error' later.
  child.on('error', () => undefined);
  if (child.pid === undefined) throw startFailure(spec, instanceId);
  child.unref();
  return child.pid;
}
