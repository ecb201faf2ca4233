import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RealClock } from '../../governor/clock.js';
import { VirtualClock } from '../../governor/virtual-clock.js';
import { FailureInjector } from '../../governor/cloud/failures.js';
import { LocalCloud } from '../../governor/cloud/local.js';
import type { SignalSummary } from '../../governor/cloud/port.js';
import { LocalRegistry } from '../../governor/cloud/registry.js';
import { selfReplicationSpec, type SpawnSpec } from '../../governor/cloud/spawn.js';
import { createLogger } from '../../governor/log.js';
import { proxyProcessEnv, withProxyNodeFlags } from '../../proxy/process-settings.js';
import { processAlive } from '../../governor/process-alive.js';
import { describeCloudContract } from './contract.js';

const FLEET = 'edge';
const REGION = 'local-1';
const fixtures = fileURLToPath(new URL('../fixtures/cloud/', import.meta.url));

const tempStateDir = () => mkdtemp(join(tmpdir(), 'governor-cloud-'));

describeCloudContract('local', async () => {
  const stateDir = await tempStateDir();
  const clock = new VirtualClock();
  const failures = new FailureInjector();
  const registry = new LocalRegistry(stateDir, { clock });
  return {
    fleet: FLEET,
    region: REGION,
    async createFirst(where = {}) {
      const record = await registry.createInstance({
        fleet: where.fleet ?? FLEET,
        region: where.region ?? REGION,
        launchedBy: 'operator',
      });
      return record.id;
    },
    async cloudFor(id) {
      const record = await registry.get(id);
      if (!record) throw new Error(`no record for ${id}`);
      return new LocalCloud({ stateDir, fleet: record.fleet, region: record.region, selfId: id, clock, spawn: null, failures });
    },
    async issueCommand(command) {
      await registry.commands.write(command);
    },
    failNext: (method, count) => failures.failNext(method, count),
    now: () => clock.now(),
    advanceTime: (ms) => clock.advance(ms),
    async cleanup() {
      clock.uninstall();
      await rm(stateDir, { recursive: true, force: true });
    },
  };
});

/** Polls `check` with real timers until it returns a value, for at most `ms`. */
async function waitFor<T>(what: string, check: () => Promise<T | undefined> | T | undefined, ms = 5000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

function kill(pid: number): void {
  if (pid !== process.pid && processAlive(pid)) process.kill(pid, 'SIGKILL');
}

const summary: SignalSummary = {
  at: 1000,
  busyNow: 0.1,
  busy1m: 0.1,
  busy5m: 0.1,
  busy15m: 0.1,
  queueWaitP95Ms: 0,
  queueWaitNowMs: 0,
  queueDepth: 0,
  rps: 1,
  inFlight: 0,
  ready: true,
  windowsFilled: true,
};

describe('LocalCloud on a real state directory', () => {
  let stateDir: string;
  let registry: LocalRegistry;
  const pids: number[] = [];
  const clock = new RealClock();

  const cloudAs = (selfId: string, spawnSpec: SpawnSpec | null = null) =>
    new LocalCloud({ stateDir, fleet: FLEET, region: REGION, selfId, clock, spawn: spawnSpec });
  const createFirst = async () => (await registry.createInstance({ fleet: FLEET, region: REGION, launchedBy: 'operator' })).id;

  beforeEach(async () => {
    stateDir = await tempStateDir();
    registry = new LocalRegistry(stateDir);
  });
  afterEach(async () => {
    pids.splice(0).forEach(kill);
    await rm(stateDir, { recursive: true, force: true });
  });

  it('registers a first instance launched by the operator, with a fresh i- id', async () => {
    const first = await registry.createInstance({ fleet: FLEET, region: REGION, launchedBy: 'operator' });
    expect(first).toMatchObject({ fleet: FLEET, region: REGION, state: 'pending', launchedBy: 'operator' });
    expect(first.id).toMatch(/^i-[0-9a-f]{12}$/);
    await expect(registry.createInstance({ id: first.id, fleet: FLEET, region: REGION, launchedBy: 'operator' })).rejects.toMatchObject({
      code: 'GOV_ERR_CLOUD_BAD_REQUEST',
    });
    await expect(registry.createInstance({ fleet: '', region: REGION, launchedBy: 'operator' })).rejects.toMatchObject({
      code: 'GOV_ERR_CLOUD_BAD_REQUEST',
    });
  });

  it('lists in launch order: launch time, then id', async () => {
    const virtual = new VirtualClock(5_000);
    try {
      const timed = new LocalRegistry(stateDir, { clock: virtual });
      const create = (id: string) => timed.createInstance({ id, fleet: FLEET, region: REGION, launchedBy: 'operator' });
      // Three launched at the same time (the id decides among them), then one later with the smallest id.
      await create('i-00000000000b');
      await create('i-000000000001');
      await create('i-00000000000a');
      await virtual.advance(10);
      await create('i-000000000000');
      expect((await timed.list(FLEET, REGION)).map((r) => r.id)).toEqual([
        'i-000000000001',
        'i-00000000000a',
        'i-00000000000b',
        'i-000000000000',
      ]);
    } finally {
      virtual.uninstall();
    }
  });

  it('launches a real detached copy with the same program, arguments and environment, and detects its death', async () => {
    const firstId = await createFirst();
    const sleeper: SpawnSpec = {
      command: process.execPath,
      args: [join(fixtures, 'sleeper.mjs'), '--config', 'same.yaml'],
      env: { SLEEPER_EXTRA: 'from-spec' },
      cwd: stateDir,
    };
    const first = cloudAs(firstId, sleeper);
    const { id, created } = await first.launch({ token: 'spawn-1', slot: 's1', launchedBy: firstId });
    expect(created).toBe(true);

    const launched = (await first.listFleet()).find((i) => i.id === id) as { pid?: number; state: string };
    expect(launched.state).toBe('pending');
    const pid = launched.pid!;
    pids.push(pid);
    expect(processAlive(pid)).toBe(true);

    const logLine = await waitFor('the sleeper to start', async () =>
      (await readFile(registry.logFile(id), 'utf8').catch(() => '')).split('\n').find((l) => l.startsWith('{')),
    );
    expect(JSON.parse(logLine)).toEqual({ id, args: ['--config', 'same.yaml'], extra: 'from-spec', cwd: stateDir });

    process.kill(pid, 'SIGKILL');
    await waitFor('the sleeper to die', () => (processAlive(pid) ? undefined : true));
    expect((await first.listFleet()).map((i) => i.id)).toEqual([firstId]);
    const [ended] = (await registry.list(FLEET, REGION, { includeTerminated: true })).filter((r) => r.id === id);
    expect(ended).toMatchObject({ state: 'terminated', pid, endReason: `process ${pid} is gone` });
    expect(ended.endTime).toBeGreaterThanOrEqual(ended.launchTime);
  });

  it('detects a crashed instance by the pid it recorded in markRunning', async () => {
    const firstId = await createFirst();
    const { id } = await cloudAs(firstId).launch({ token: 'crash-1', slot: 's1', launchedBy: firstId });
    await cloudAs(id).markRunning({ proxy: 'http://127.0.0.1:18090' });
    expect((await registry.get(id))?.pid).toBe(process.pid);

    const gone = spawn(process.execPath, ['-e', '']);
    await new Promise((resolve) => gone.once('exit', resolve));
    await registry.update(id, (r) => ({ ...r, pid: gone.pid }));
    expect((await cloudAs(firstId).listFleet()).map((i) => i.id)).toEqual([firstId]);
    expect((await registry.get(id))?.state).toBe('terminated');
  });

  it('a program that cannot start fails the launch and is kept terminated; the token stays used', async () => {
    const firstId = await createFirst();
    const broken = cloudAs(firstId, { command: join(stateDir, 'no-such-program'), args: [] });
    await expect(broken.launch({ token: 'broken-1', slot: 's1', launchedBy: firstId })).rejects.toMatchObject({
      code: 'GOV_ERR_CLOUD_UNAVAILABLE',
    });
    expect((await broken.listFleet()).map((i) => i.id)).toEqual([firstId]);
    const history = await registry.list(FLEET, REGION, { includeTerminated: true });
    expect(history).toHaveLength(2);
    // the two may share a launch millisecond, so rank order is not launch order here: find it by id
    const failed = history.find((r) => r.id !== firstId)!;
    expect(failed).toMatchObject({ state: 'terminated', launchSlot: 's1', endReason: expect.stringMatching(/^could not start/) });
    expect(await broken.launch({ token: 'broken-1', slot: 's1', launchedBy: firstId })).toEqual({ id: failed.id, created: false });
  });

  it('racing launches of one token from several processes start exactly one instance', async () => {
    const firstId = await createFirst();
    const racers = Array.from({ length: 4 }, () => {
      const child = spawn(process.execPath, [join(fixtures, 'launch-race.mjs'), stateDir, FLEET, REGION, firstId, 'race-token']);
      pids.push(child.pid!);
      const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
      return { child, nextLine: async () => (await lines.next()).value as string | undefined };
    });
    try {
      expect(await Promise.all(racers.map((r) => r.nextLine()))).toEqual(racers.map(() => 'ready'));
      const results = racers.map((r) => {
        const line = r.nextLine();
        r.child.stdin.write('go\n');
        return line;
      });
      const outcomes = (await Promise.all(results)).map((line) => JSON.parse(line!) as { id: string; created: boolean });

      expect(outcomes.filter((o) => o.created)).toHaveLength(1);
      expect(new Set(outcomes.map((o) => o.id)).size).toBe(1);
      expect((await registry.list(FLEET, REGION, { includeTerminated: true })).map((r) => r.id).sort()).toEqual(
        [firstId, outcomes[0].id].sort(),
      );
      expect(await readdir(join(stateDir, 'processes'))).toEqual([`${outcomes[0].id}.json`]);
    } finally {
      racers.forEach((r) => r.child.kill('SIGKILL'));
    }
  });

  it('writes atomically: a reader racing many rewrites always parses a whole record, and no temp file is left', async () => {
    const firstId = await createFirst();
    const me = cloudAs(firstId);
    const path = join(stateDir, 'instances', `${firstId}.json`);
    let writing = true;
    const writer = (async () => {
      for (let i = 0; i < 150; i++) await me.publishSummary({ ...summary, at: i, rps: i });
      writing = false;
    })();
    let reads = 0;
    const partial: string[] = [];
    while (writing && reads < 2000) {
      const text = await readFile(path, 'utf8');
      try {
        JSON.parse(text);
      } catch {
        partial.push(text);
      }
      reads++;
    }
    await writer;
    expect(reads).toBeGreaterThan(10);
    expect(partial).toEqual([]);
    expect((await registry.get(firstId))?.summary?.rps).toBe(149);
    expect((await readdir(join(stateDir, 'instances'))).filter((f) => !f.endsWith('.json'))).toEqual([]);
  });

  it('skips corrupt or foreign files with one warning each and never fails a listing', async () => {
    const lines: string[] = [];
    const log = createLogger('warn', { write: (line: string) => lines.push(line) });
    const firstId = await createFirst();
    const me = new LocalCloud({ stateDir, fleet: FLEET, region: REGION, selfId: firstId, clock, spawn: null, log });
    await writeFile(join(stateDir, 'instances', 'i-badjson.json'), '{"id": "i-badj');
    await writeFile(join(stateDir, 'instances', 'i-noshape.json'), JSON.stringify({ id: 'i-noshape', fleet: FLEET }));
    await writeFile(join(stateDir, 'instances', 'i-renamed.json'), JSON.stringify({ ...(await registry.get(firstId)), id: 'i-other' }));
    await writeFile(join(stateDir, 'instances', 'i-crashed.json.1234.tmp'), '{"half');

    expect((await me.listFleet()).map((i) => i.id)).toEqual([firstId]);
    expect((await me.listFleet()).map((i) => i.id)).toEqual([firstId]);
    const warned = lines.map((l) => JSON.parse(l) as { file: string; msg: string });
    expect(warned.map((w) => w.file.split('/').pop()).sort()).toEqual(['i-badjson.json', 'i-noshape.json', 'i-renamed.json']);
    expect(warned.every((w) => w.msg === 'skipping an unreadable registry file')).toBe(true);
  });

  it('keeps terminated instances and closed commands as history', async () => {
    const virtual = new VirtualClock(50_000);
    try {
      const timed = new LocalRegistry(stateDir, { clock: virtual });
      const firstId = (await timed.createInstance({ fleet: FLEET, region: REGION, launchedBy: 'operator' })).id;
      const me = new LocalCloud({ stateDir, fleet: FLEET, region: REGION, selfId: firstId, clock: virtual, spawn: null });
      const base = { target: firstId, fleet: FLEET, kind: 'shutdown' as const, issuedAt: 50_000, expiresAt: 51_000 };
      await timed.commands.write({ ...base, id: 'cmd-acked' });
      await timed.commands.write({ ...base, id: 'cmd-stale', kind: 'pause' });
      await expect(timed.commands.write({ ...base, id: 'cmd-acked' })).rejects.toMatchObject({ code: 'GOV_ERR_CLOUD_BAD_REQUEST' });
      await me.ackCommand('cmd-acked', 'done');
      await me.ackCommand('cmd-acked', 'done');
      await virtual.advance(1_000);
      expect(await me.readCommands()).toEqual([]);
      await virtual.advance(500);
      await me.markLeaving();
      await me.terminateSelf();
      await me.terminateSelf();

      expect(await me.listFleet()).toEqual([]);
      expect(await timed.list(FLEET, REGION, { includeTerminated: true })).toMatchObject([
        { id: firstId, state: 'terminated', launchTime: 50_000, endTime: 51_500, endReason: 'terminated itself' },
      ]);
      expect(await timed.commands.history()).toEqual([
        { command: { ...base, id: 'cmd-acked' }, outcome: 'done', ackedBy: firstId, at: 50_000 },
        { command: { ...base, id: 'cmd-stale', kind: 'pause' }, outcome: 'expired', at: 51_000 },
      ]);
      await expect(me.publishSummary(summary)).rejects.toMatchObject({ code: 'GOV_ERR_CLOUD_BAD_STATE' });
    } finally {
      virtual.uninstall();
    }
  });

  it('refuses malformed commands, naming the field', async () => {
    const base = { id: 'cmd-1', target: 'i-000000000001', fleet: FLEET, kind: 'shutdown' as const, issuedAt: 1, expiresAt: 2 };
    const refused = async (change: Record<string, unknown>, field: string) =>
      expect(registry.commands.write({ ...base, ...change } as never)).rejects.toMatchObject({
        code: 'GOV_ERR_CLOUD_BAD_REQUEST',
        details: { field },
      });
    await refused({ kind: 'reboot' }, 'command.kind');
    await refused({ id: '../escape' }, 'command.id');
    await refused({ target: 'a/b' }, 'command.target');
    await refused({ expiresAt: 1 }, 'command.expiresAt');
    await refused({ params: [1] }, 'command.params');
    await refused({ params: { blob: 'x'.repeat(5000) } }, 'command');
    expect(await readdir(stateDir)).toEqual([]);
  });

  it('moves states forward only and validates what it stores', async () => {
    const firstId = await createFirst();
    const me = cloudAs(firstId);
    await expect(me.markRunning({ proxy: 'ftp://127.0.0.1/' })).rejects.toMatchObject({ code: 'GOV_ERR_CLOUD_BAD_REQUEST' });
    await me.markRunning({ proxy: 'http://127.0.0.1:18091', extra: 'dropped' } as never);
    await me.publishSummary({ ...summary, note: 'x'.repeat(100_000) } as never);
    await expect(me.publishSummary({ ...summary, busy1m: Number.NaN })).rejects.toMatchObject({
      code: 'GOV_ERR_CLOUD_BAD_REQUEST',
      details: { field: 'summary.busy1m' },
    });
    const stored = await registry.get(firstId);
    expect(stored?.endpoints).toEqual({ proxy: 'http://127.0.0.1:18091' });
    expect(stored?.summary).toEqual(summary);
    await me.markLeaving();
    await expect(me.markRunning({})).rejects.toMatchObject({ code: 'GOV_ERR_CLOUD_BAD_STATE' });
    await expect(cloudAs('i-ffffffffffff').markRunning({})).rejects.toMatchObject({ code: 'GOV_ERR_CLOUD_NOT_FOUND' });
    expect(() => cloudAs('../etc')).toThrow(expect.objectContaining({ code: 'GOV_ERR_CLOUD_BAD_REQUEST' }));
  });

  it('injects throttles, failure rates and a region-wide outage', async () => {
    const firstId = await createFirst();
    const failures = new FailureInjector();
    const a = new LocalCloud({ stateDir, fleet: FLEET, region: REGION, selfId: firstId, clock, spawn: null, failures });
    const b = new LocalCloud({ stateDir, fleet: FLEET, region: REGION, selfId: firstId, clock, spawn: null, failures });
    failures.failNext('identity', 1, 'throttle');
    await expect(a.identity()).rejects.toMatchObject({ code: 'GOV_ERR_CLOUD_THROTTLED', details: { injected: true } });
    const draws = [0.1, 0.9, 0.4, 0.6];
    failures.setFailureRate(0.5, () => draws.shift()!);
    const outcomes = await Promise.all([a.listFleet(), b.listFleet(), a.listFleet(), b.listFleet()].map((p) => p.then(() => 'ok', () => 'failed')));
    expect(outcomes).toEqual(['failed', 'ok', 'failed', 'ok']);
    failures.reset();
    expect(await a.identity()).toEqual({ id: firstId, fleet: FLEET, region: REGION });
    expect(() => failures.failNext('launch', 0)).toThrow(RangeError);
    expect(() => failures.setFailureRate(2)).toThrow(RangeError);
  });

  it('markAllTerminated ends a whole fleet, keeping other fleets', async () => {
    const firstId = await createFirst();
    const other = await registry.createInstance({ fleet: 'other', region: REGION, launchedBy: 'operator' });
    await registry.markAllTerminated(FLEET, REGION);
    expect(await registry.list(FLEET, REGION, { includeTerminated: true })).toMatchObject([
      { id: firstId, state: 'terminated', endReason: 'region stopped' },
    ]);
    expect((await registry.list('other', REGION)).map((r) => r.id)).toEqual([other.id]);
  });

  it('selfReplicationSpec copies this process: program, Node flags and arguments (with the proxy\'s settings added), working directory', () => {
    const spec = selfReplicationSpec();
    expect(spec).toEqual({
      command: process.execPath,
      args: [...withProxyNodeFlags(process.execArgv), ...process.argv.slice(1)],
      env: proxyProcessEnv(),
      cwd: process.cwd(),
    });
    expect(spec.args.slice(0, process.execArgv.length)).toEqual(process.execArgv);
    expect(spec.args).toContain('--initial-old-space-size=128');
    expect(spec.env?.GLIBC_TUNABLES).toContain('glibc.malloc.trim_threshold=134217728');
  });
});
