// Starting and stopping the proxy benchmark's servers (proxy-servers.mjs), each in a process of
// its own on a free port of 127.0.0.1: for proxy.mjs, and for the tests that hold its servers to
// what Governor really sends (same-head.test.ts).
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { clearTimeout, setTimeout } from 'node:timers';

/** The address every benchmark server listens on. */
export const HOST = '127.0.0.1';
const SERVERS = fileURLToPath(new URL('./proxy-servers.mjs', import.meta.url));

/** Node flags and environment variables added to a server's process: none. */
export const NO_SETTINGS = { nodeFlags: [], env: {} };

/** A port of 127.0.0.1 that was free a moment ago. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, HOST, () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/**
 * Starts the server `role` (a role of proxy-servers.mjs) on `workers` processes in front of
 * `origin` (a URL; every role but origin needs one) and resolves once it is ready, with { pid,
 * url, stop }; rejects if it exits first. The process inherits this one's Node flags;
 * `settings` adds Node flags and environment variables (Governor's processes run with the ones
 * it ships with); `wrapper`, a command and its arguments, runs Node under it (valgrind).
 */
export async function startRole(role, { origin, workers = 1, settings = NO_SETTINGS, wrapper } = {}) {
  const port = await freePort();
  const nodeArgv = [...process.execArgv, ...settings.nodeFlags];
  const child = fork(SERVERS, ['--role', role, '--port', String(port), '--workers', String(workers), ...(origin ? ['--origin', origin] : [])], {
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    ...(wrapper ? { execPath: wrapper[0], execArgv: [...wrapper.slice(1), process.execPath, ...nodeArgv] } : { execArgv: nodeArgv }),
    env: { ...process.env, ...settings.env },
  });
  const [message] = await Promise.race([once(child, 'message'), once(child, 'exit').then(() => [undefined])]);
  if (!message?.ready) throw new Error(`${role} did not start`);
  return { pid: child.pid, url: `http://${HOST}:${port}`, stop: () => stopChild(child) };
}

/** Stops `child` with SIGTERM, SIGKILL if it has not exited 3 s later; resolves once it has exited. */
export function stopChild(child) {
  if (child.exitCode !== null) return Promise.resolve();
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const kill = setTimeout(() => child.kill('SIGKILL'), 3_000);
  return exited.then(() => clearTimeout(kill));
}
