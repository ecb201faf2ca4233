import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startAdminServer, type AdminServer } from '../../../governor/admin.js';
import { ADMIN_REJECTED_KEY, NonceStore, signRequest } from '../../../governor/admin-auth.js';
import { RealClock } from '../../../governor/clock.js';
import { LocalCloud } from '../../../governor/cloud/local.js';
import { LocalRegistry } from '../../../governor/cloud/registry.js';
import { Governor } from '../../../governor/governor.js';
import { adminChannel } from '../../../governor/operator/channels.js';
import { operatorCliCommands } from '../../../governor/operator/cli-commands.js';
import { CONTROL_KEYS } from '../../../governor/operator/control.js';
import { controlRoutes } from '../../../governor/operator/control-routes.js';
import { formatShutdownProgress } from '../../../governor/operator/format.js';
import { shutdownInstance, type OperatorEvent } from '../../../governor/operator/orchestrate.js';
import commands from '../../../tasks/commands.js';
import controlledShutdown, { SHUTDOWN_KEYS } from '../../../tasks/controlled-shutdown.js';
import fleet from '../../../tasks/fleet.js';
import { FLEET, REGION, testConfig } from '../../tasks/context.js';

const SECRET = Buffer.from('0123456789abcdef0123456789abcdef');
const shutdown = { notReadyMs: 50, drainTimeoutMs: 100, phaseTimeoutMs: 1500 };

/** One instance as instance.ts runs it (real clock, scheduler, admin server) with the control routes. */
describe('signed control routes of the admin API', () => {
  let stateDir: string;
  let registry: LocalRegistry;
  let governor: Governor;
  let admin: AdminServer;
  let id: string;

  beforeEach(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'governor-control-'));
    const clock = new RealClock();
    registry = new LocalRegistry(stateDir, { clock });
    ({ id } = await registry.createInstance({ fleet: FLEET, region: REGION, launchedBy: 'operator' }));
    const cloud = new LocalCloud({ stateDir, fleet: FLEET, region: REGION, selfId: id, clock, spawn: null });
    const log = pino({ level: 'silent' });
    governor = new Governor({ config: testConfig({ shutdown }), clock, cloud, log, tasks: [fleet, commands, controlledShutdown] });
    admin = await startAdminServer({
      blackboard: governor.blackboard,
      journal: governor.journal,
      isReady: () => true,
      routes: controlRoutes({
        blackboard: governor.blackboard,
        journal: governor.journal,
        clock,
        cloud,
        invoke: (name) => governor.scheduler.invoke(name),
        secret: SECRET,
        nonceStore: new NonceStore(),
        maxSkewMs: 300_000,
      }),
    });
    await governor.start();
    await cloud.markRunning({ admin: admin.url });
    await governor.scheduler.invoke('fleet');
  });
  afterEach(async () => {
    await governor.stop();
    await admin.close();
    await rm(stateDir, { recursive: true, force: true });
  });

  function post(path: string, body: unknown, headers: Record<string, string> = {}) {
    const text = body === undefined ? '' : JSON.stringify(body);
    return fetch(admin.url + path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: text });
  }
  function signed(path: string, body: unknown, secret: Buffer = SECRET) {
    const text = body === undefined ? '' : JSON.stringify(body);
    return post(path, body, signRequest({ secret, method: 'POST', path, body: text }));
  }
  const untouched = () => {
    expect(governor.blackboard.has(CONTROL_KEYS.paused)).toBe(false);
    expect(governor.blackboard.has(SHUTDOWN_KEYS.request)).toBe(false);
    expect(governor.journal.query({ name: 'control' })).toEqual([]);
    expect(governor.journal.query({ name: 'operator-shutdown' })).toEqual([]);
  };

  it('rejects unsigned and wrongly signed requests on every control route, changing nothing', async () => {
    const attempts = [];
    for (const path of ['/control/shutdown', '/control/pause', '/control/resume']) {
      attempts.push(await post(path, { includingLast: true }));
      attempts.push(await signed(path, path === '/control/shutdown' ? { includingLast: true } : {}, Buffer.from('another-secret-of-32-bytes-length')));
    }
    expect(attempts.map((r) => r.status)).toEqual([401, 401, 401, 401, 401, 401]);
    const codes = await Promise.all(attempts.map(async (r) => ((await r.json()) as { error: { code: string } }).error.code));
    expect(codes).toEqual([1, 2, 3].flatMap(() => ['GOV_ERR_ADMIN_UNSIGNED', 'GOV_ERR_ADMIN_BAD_SIGNATURE']));
    expect(governor.blackboard.get(ADMIN_REJECTED_KEY)).toEqual({ GOV_ERR_ADMIN_UNSIGNED: 3, GOV_ERR_ADMIN_BAD_SIGNATURE: 3 });
    untouched();
  });

  it('pauses and resumes for a signed request, with the same outcomes the command channel acknowledges', async () => {
    const decidedAt = Date.now() - 1000;
    const paused = await signed('/control/pause', { decidedAt, by: 'alice' });
    expect(paused.status).toBe(200);
    expect(await paused.json()).toMatchObject({ status: 'accepted', outcome: expect.stringMatching(/^accepted: paused \(Stop!\)/), control: { paused: true, since: decidedAt, by: 'alice' } });
    expect(governor.blackboard.get(CONTROL_KEYS.paused)).toBe(true);

    const resumed = await signed('/control/resume', undefined);
    expect(await resumed.json()).toMatchObject({ status: 'accepted', control: { paused: false, by: 'admin API' } });
    expect(governor.journal.query({ name: 'control' }).map((e) => e.reason)).toEqual([
      'paused (Stop!) by alice: scaling decisions stop, serving continues',
      'resumed (Go!) by admin API: scaling decisions resume, serving continues',
    ]);
  });

  it('answers 400 to a signed request with a bad body, changing nothing', async () => {
    for (const body of [{ includingLast: 'yes' }, { surprise: 1 }, [1]]) {
      const res = await signed('/control/shutdown', body);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('GOV_ERR_ADMIN_BAD_REQUEST');
    }
    expect((await signed('/control/pause', { decidedAt: -5 })).status).toBe(400);
    untouched();
  });

  it('refuses to shut down the last instance (409) without includingLast', async () => {
    const res = await signed('/control/shutdown', { reason: 'test' });
    expect(res.status).toBe(409);
    expect(await res.json()).toMatchObject({ status: 'refused', error: { code: 'GOV_ERR_SHUTDOWN_REFUSED' } });
    expect(governor.blackboard.has(SHUTDOWN_KEYS.request)).toBe(false);
  });

  it('an operator takes the instance out through the admin channel and follows every phase', async () => {
    const channel = await adminChannel({ adminUrl: admin.url, secret: SECRET, fleet: FLEET, region: REGION });
    const events: OperatorEvent[] = [];
    const report = await shutdownInstance(channel, {
      clock: new RealClock(),
      pollMs: 20,
      timeoutMs: 10_000,
      instanceId: id,
      includingLast: true,
      follow: (e) => events.push(e),
    });
    expect(report.outcome).toBe('accepted: controlled shutdown started; the region goes dark (includingLast)');
    expect(report.progress?.phases.map((p) => [p.name, p.outcome])).toEqual([
      ['not-ready', 'ok'],
      ['drain', 'ok'],
      ['flush', 'ok'],
      ['terminate', 'ok'],
    ]);
    expect((await registry.get(id))!.state).toBe('terminated');
    const last = events.at(-1)!;
    expect(last.type).toBe('progress');
    if (last.type !== 'progress') return;
    expect(formatShutdownProgress(id, last.observation, Date.now())).toMatch(
      new RegExp(`^${id} gone {2}done {2}\\[not-ready ok \\d+\\.\\d s \\| drain ok \\d+\\.\\d s \\| flush ok \\d+\\.\\d s \\| terminate ok \\d+\\.\\d s\\]$`),
    );
  });

  it('governor pause / resume --admin URL --secret-file F act through the signed channel', async () => {
    const secretFile = join(stateDir, 'admin.secret');
    await writeFile(secretFile, SECRET.toString('utf8'), { mode: 0o600 });
    const lines: string[] = [];
    const cli = operatorCliCommands((line) => lines.push(line));
    expect(await cli.pause.run({ admin: admin.url, 'secret-file': secretFile, region: REGION })).toBe(0);
    expect(governor.blackboard.get(CONTROL_KEYS.paused)).toBe(true);
    expect(governor.blackboard.get(CONTROL_KEYS.by)).toBe('operator CLI');
    expect(lines).toEqual([
      `-> pause ${id} via admin API (${admin.url})`,
      expect.stringMatching(new RegExp(`^<- ${id}: accepted: paused \\(Stop!\\)`)),
      'Stop! (paused): 1 of 1 member(s) answered; the others adopt it from their peers',
    ]);
    expect(await cli.resume.run({ admin: admin.url, 'secret-file': secretFile, region: REGION })).toBe(0);
    expect(governor.blackboard.get(CONTROL_KEYS.paused)).toBe(false);
  });

  it('the CLI commands refuse malformed flags before reaching any instance', async () => {
    const cli = operatorCliCommands(() => undefined);
    const usage = { code: 'GOV_ERR_CLI_USAGE' };
    await expect(cli.shutdown.run({ instance: id, region: REGION })).rejects.toMatchObject(usage);
    await expect(cli.shutdown.run({})).rejects.toMatchObject(usage);
    await expect(cli.pause.run({ 'state-dir': stateDir })).rejects.toMatchObject(usage);
    await expect(cli.pause.run({ region: REGION, 'state-dir': stateDir, ttl: '0' })).rejects.toMatchObject(usage);
    untouched();
  });

  it('the admin channel checks the fleet and region of the instance it is given', async () => {
    await expect(adminChannel({ adminUrl: admin.url, secret: SECRET, region: 'elsewhere-1' })).rejects.toMatchObject({ code: 'GOV_ERR_OPERATOR_TARGET' });
  });
});
