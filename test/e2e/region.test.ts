import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalRegistry, type InstanceRecord } from '../../governor/cloud/registry.js';
import { processAlive } from '../../governor/process-alive.js';
import { runLoad, type LoadReport } from '../../governor/region/load.js';
import { PROXY_MALLOC_TUNABLES, PROXY_NODE_FLAGS } from '../../proxy/process-settings.js';
import { commandLineOf, environmentOf } from '../command-line.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLI = join(ROOT, 'dist/governor/cli.js');
const RULES = join(ROOT, 'test/fixtures/rules-e2e');
const FLEET = 'e2e';
const REGION = 'local-e2e';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `probe` every 250 ms until it returns a value, or fails after `timeoutMs`. */
async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await probe();
    if (value !== undefined) return value;
    await sleep(250);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/**
 * The whole product on one machine (issue #3): `governor up` as a real process with a real
 * front door, demo origin and instances that are real detached processes; load grows the fleet,
 * quiet shrinks it back, the oldest leaves, and no request fails at the front door meanwhile.
 */
describe('a local region end to end', () => {
  let dir: string;
  let up: ChildProcess;
  let frontDoor: string;
  let registry: LocalRegistry;
  const output: string[] = [];

  const members = () => registry.list(FLEET, REGION);
  const everyone = () => registry.list(FLEET, REGION, { includeTerminated: true });

  beforeAll(async () => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first (npm test does)`);
    dir = await mkdtemp(join(tmpdir(), 'governor-e2e-'));
    const configFile = join(dir, 'config.json');
    const every = (s: number) => ({ schedule: `*/${s} * * * * *` });
    await writeFile(
      configFile,
      JSON.stringify({
        fleet: FLEET,
        region: REGION,
        stateDir: join(dir, 'state'),
        rulesDir: RULES,
        log: { level: 'warn' },
        // The thresholds of rules-e2e were tuned to one proxy process forwarding every request.
        proxy: { workers: 1, cache: { enabled: false } },
        tasks: { overrides: { fleet: every(1), rules: every(1), 'scale-up': every(1), 'scale-down': every(1) } },
        scaling: {
          maxInstances: 2,
          warmupMs: 5_000,
          scaleUpSpacingMs: 5_000,
          scaleDownSpacingMs: 8_000,
          launcherGraceMs: 5_000,
        },
        shutdown: { notReadyMs: 1_500, drainTimeoutMs: 5_000, phaseTimeoutMs: 5_000 },
      }),
    );
    registry = new LocalRegistry(join(dir, 'state'));
    up = spawn(process.execPath, [CLI, 'up', '--config', configFile, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    up.stdout!.on('data', (chunk: Buffer) => output.push(chunk.toString()));
    up.stderr!.on('data', (chunk: Buffer) => output.push(chunk.toString()));
    frontDoor = await waitFor('the front door', 20_000, async () => /front door\s+(http:\/\/\S+)/.exec(output.join(''))?.[1]);
    await waitFor('the first instance serving', 30_000, async () => {
      const res = await fetch(frontDoor + '/static/app.js').catch(() => undefined);
      return res?.status === 200 ? true : undefined;
    });
  }, 60_000);

  afterAll(async () => {
    if (up && up.exitCode === null) {
      up.kill('SIGINT');
      await waitFor('governor up to exit', 30_000, async () => (up.exitCode === null ? undefined : true));
    }
    await rm(dir, { recursive: true, force: true });
  }, 60_000);

  it('grows under load, shrinks oldest first when it stops, with zero failed requests while shrinking', async () => {
    const [first] = await members();
    expect(first.state).toBe('running');

    // load until a second instance serves
    const heavy = new AbortController();
    const onset = Date.now();
    const heavyLoad = runLoad({ target: frontDoor, mode: 'steps', rate: 1500, durationSec: 90, path: '/static/app.js', maxConcurrency: 200, signal: heavy.signal });
    const second = await waitFor('a second instance running', 90_000, async () => {
      const running = (await members()).filter((m) => m.state === 'running');
      return running.length >= 2 ? running.find((m) => m.id !== first.id) : undefined;
    });
    const serving = Date.now();
    heavy.abort();
    await heavyLoad;
    expect(second.launchedBy).toBe(first.id);
    // started by governor up, and by self-replication: both with the proxy's Node flags and malloc settings
    for (const instance of [first, second]) {
      expect(commandLineOf(instance.pid!)).toEqual(expect.arrayContaining([...PROXY_NODE_FLAGS]));
      // /proc shows the environment block as glibc left it after reading the variable: cut after the first tunable (the process's getenv sees all; see process-settings.test.ts)
      expect(environmentOf(instance.pid!).GLIBC_TUNABLES).toBe(PROXY_MALLOC_TUNABLES[0]);
    }

    // the launch decision as the launcher journaled it
    const journal = (await (await fetch(`${first.endpoints!.admin}/journal?name=scale-up&kind=action`)).json()) as {
      entries: Array<{ at: number }>;
    };
    const decidedAt = journal.entries[0].at;

    // quiet: light load keeps flowing while the oldest drains and leaves
    const light = new AbortController();
    const lightLoad: Promise<LoadReport> = runLoad({ target: frontDoor, mode: 'steps', rate: 20, durationSec: 120, path: '/static/app.js', signal: light.signal });
    const gone = await waitFor('the fleet back to one instance', 110_000, async () => {
      const all = await everyone();
      const live = all.filter((m) => m.state !== 'terminated');
      return live.length === 1 ? all : undefined;
    });
    await sleep(2_000); // requests still in flight around the leave
    light.abort();
    const quiet = await lightLoad;

    const oldest = gone.find((m: InstanceRecord) => m.id === first.id)!;
    expect(oldest.state).toBe('terminated');
    expect(gone.find((m) => m.id === second.id)!.state).toBe('running');
    expect(quiet.ok).toBeGreaterThan(100);
    expect(quiet.errors).toBe(0);

    // the closing note's reaction figures
    console.log(
      `reaction: load onset -> launch decision ${((decidedAt - onset) / 1000).toFixed(1)} s, ` +
        `-> second instance serving ${((serving - onset) / 1000).toFixed(1)} s; ` +
        `shrink: ${quiet.ok} requests, ${quiet.errors} failed`,
    );
  }, 240_000);

  it('refuses a second governor up in the same state directory', async () => {
    const second = spawn(process.execPath, [CLI, 'up', '--port', '0'], {
      env: { ...process.env, GOVERNOR_STATE_DIR: join(dir, 'state') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    second.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => second.on('exit', resolve));
    expect(code).toBe(1);
    expect(stderr).toMatch(/GOV_ERR_REGION_RUNNING/);
  }, 30_000);

  it('stops cleanly on Ctrl-C and leaves no process behind', async () => {
    const pids = (await everyone()).map((m) => m.pid).filter((p): p is number => typeof p === 'number');
    up.kill('SIGINT');
    const code = await waitFor('governor up to exit', 30_000, async () => up.exitCode ?? undefined);
    expect(code).toBe(0);
    expect(pids.filter(processAlive)).toEqual([]);
    expect((await members()).length).toBe(0);
  }, 40_000);
});
