import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { VirtualClock } from '../../governor/virtual-clock.js';
import { defaultConfig } from '../../governor/config.js';
import { isGovError } from '../../governor/errors.js';
import controlledShutdown, {
  SHUTDOWN_KEYS,
  requestShutdown,
  type ShutdownProgress,
} from '../../tasks/controlled-shutdown.js';
import { TaskHarness, TestRegion, drive, testConfig } from './context.js';
import { FakeProxy } from './fake-proxy.js';

const shutdown = { notReadyMs: 2000, drainTimeoutMs: 5000, phaseTimeoutMs: 3000 };

describe('controlled-shutdown task', () => {
  let clock: VirtualClock;
  let region: TestRegion;
  let id: string;
  let proxy: FakeProxy;
  let h: TaskHarness;

  beforeEach(async () => {
    clock = new VirtualClock();
    region = await TestRegion.create(clock);
    [id] = await region.addRunning(2);
    proxy = new FakeProxy();
    h = new TaskHarness({ clock, config: testConfig({ shutdown }), cloud: region.cloudFor(id), proxy });
  });
  afterEach(async () => {
    clock.uninstall();
    await region.cleanup();
  });

  const progress = () => h.blackboard.get<ShutdownProgress>(SHUTDOWN_KEYS.progress)!;
  const state = async () => (await region.registry.get(id))!.state;
  const ask = () => requestShutdown(h.blackboard, { by: 'operator', reason: 'maintenance', at: clock.now() });

  it('only fires yearly on its own, and its timeout covers every phase at the defaults', () => {
    expect(controlledShutdown.schedule).toBe('0 0 0 1 1 *');
    const d = defaultConfig().shutdown;
    expect(controlledShutdown.timeoutMs).toBeGreaterThan(d.notReadyMs + d.drainTimeoutMs + 4 * d.phaseTimeoutMs);
  });

  it('runs not-ready, drain, flush and terminate in order, then sets shutdown.done', async () => {
    const phasesSeen: unknown[] = [];
    const statesSeen: string[] = [];
    h.blackboard.watch(SHUTDOWN_KEYS.phase, (_k, v) => {
      if (phasesSeen.at(-1) !== v) phasesSeen.push(v);
    });
    h.blackboard.watch(SHUTDOWN_KEYS.phase, (_k, v) => {
      if (v === 'drain') void state().then((s) => statesSeen.push(s));
    });
    ask();
    const start = clock.now();
    await drive(clock, h.run(controlledShutdown));

    expect(phasesSeen).toEqual(['not-ready', 'drain', 'flush', 'terminate', 'done']);
    expect(statesSeen[0]).toBe('leaving');
    expect(proxy.readyCalls).toEqual([false]);
    expect(proxy.drainCalls).toEqual([shutdown.drainTimeoutMs]);
    expect(await state()).toBe('terminated');
    expect(h.blackboard.get(SHUTDOWN_KEYS.done)).toBe(true);

    const p = progress();
    expect(p.request).toMatchObject({ by: 'operator', reason: 'maintenance' });
    expect(p.phases.map((x) => [x.name, x.outcome])).toEqual([
      ['not-ready', 'ok'],
      ['drain', 'ok'],
      ['flush', 'ok'],
      ['terminate', 'ok'],
    ]);
    const notReady = p.phases[0];
    expect(notReady.startedAt).toBe(start);
    expect(notReady.endedAt! - notReady.startedAt).toBeGreaterThanOrEqual(shutdown.notReadyMs);
    expect(h.entries('controlled-shutdown.drain')[0].reason).toBe(
      'drain: ok, stopped accepting; 0 request(s) completed, 0 abandoned at the 5000 ms deadline',
    );
    expect(h.entries('controlled-shutdown').map((e) => e.reason)).toEqual([
      'controlled shutdown started (by operator: maintenance)',
      expect.stringMatching(/^controlled shutdown complete in \d+ ms$/),
    ]);
  });

  it('a drain that outlives its deadline times out and the shutdown goes on', async () => {
    proxy.drainResult = undefined; // never finishes on its own
    ask();
    await drive(clock, h.run(controlledShutdown));
    const drain = progress().phases[1];
    expect(drain).toMatchObject({ name: 'drain', outcome: 'timeout', detail: 'no end within 8000 ms' });
    expect(drain.endedAt! - drain.startedAt).toBe(shutdown.drainTimeoutMs + shutdown.phaseTimeoutMs);
    expect(h.journal.query({ kind: 'error' }).map((e) => e.name)).toEqual(['controlled-shutdown.drain']);
    expect(h.blackboard.get(SHUTDOWN_KEYS.done)).toBe(true);
  });

  it("with a load balancer target group, not-ready waits for markLeaving's deregistration up to cloud.ec2.deregistrationWaitMs more", async () => {
    const cloud = region.cloudFor(id);
    const markLeaving = cloud.markLeaving.bind(cloud);
    cloud.markLeaving = async () => {
      await clock.sleep(12_000); // the balancer's deregistration delay, longer than notReadyMs + phaseTimeoutMs
      await markLeaving();
    };
    const targetGroupArn = 'arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/edge/0123456789abcdef';
    const config = testConfig({ shutdown, cloud: { adapter: 'ec2', ec2: { targetGroupArn, deregistrationWaitMs: 20_000 } } });
    h = new TaskHarness({ clock, config, cloud, proxy });
    ask();
    await drive(clock, h.run(controlledShutdown));
    const notReady = progress().phases[0];
    expect(notReady).toMatchObject({ name: 'not-ready', outcome: 'ok' });
    // ended by markLeaving (12 s, past notReadyMs + phaseTimeoutMs = 5 s), not by the phase timeout
    expect(notReady.endedAt! - notReady.startedAt).toBeGreaterThanOrEqual(12_000);
    expect(notReady.endedAt! - notReady.startedAt).toBeLessThan(13_000);
    expect(h.blackboard.get(SHUTDOWN_KEYS.done)).toBe(true);
  });

  it('a failed markLeaving is recorded, the wait still happens, the shutdown goes on', async () => {
    region.failures.failNext('markLeaving');
    ask();
    await drive(clock, h.run(controlledShutdown));
    const notReady = progress().phases[0];
    expect(notReady.outcome).toBe('error');
    expect(notReady.detail).toMatch(/markLeaving: cloud unavailable/);
    expect(notReady.endedAt! - notReady.startedAt).toBeGreaterThanOrEqual(shutdown.notReadyMs);
    expect(await state()).toBe('terminated');
  });

  it('retries terminateSelf within its phase', async () => {
    region.failures.failNext('terminateSelf', 2);
    ask();
    await drive(clock, h.run(controlledShutdown));
    expect(progress().phases[3]).toMatchObject({ outcome: 'ok', detail: 'terminated (attempt 3)' });
    expect(h.blackboard.get(SHUTDOWN_KEYS.done)).toBe(true);
  });

  it('when terminate keeps failing it stays not ready and leaving, fails, and can be invoked again', async () => {
    region.failures.failNext('terminateSelf', 100);
    ask();
    const failed = await drive(clock, h.run(controlledShutdown)).catch((err: unknown) => err);
    expect(isGovError(failed, 'GOV_ERR_SHUTDOWN_FAILED')).toBe(true);
    expect(h.blackboard.get(SHUTDOWN_KEYS.phase)).toBe('failed');
    expect(h.blackboard.has(SHUTDOWN_KEYS.done)).toBe(false);
    expect(await state()).toBe('leaving');
    const terminate = progress().phases[3];
    expect(terminate.outcome).toBe('error');
    expect(terminate.endedAt! - terminate.startedAt).toBeLessThanOrEqual(shutdown.phaseTimeoutMs);

    region.failures.reset();
    await drive(clock, h.run(controlledShutdown));
    expect(h.blackboard.get(SHUTDOWN_KEYS.done)).toBe(true);
    expect(await state()).toBe('terminated');
  });

  it('does nothing without a request (a scheduled fire) or once done', async () => {
    await h.run(controlledShutdown);
    expect(proxy.readyCalls).toEqual([]);
    expect(await state()).toBe('running');
    expect(h.blackboard.has(SHUTDOWN_KEYS.phase)).toBe(false);
    expect(h.entries('controlled-shutdown')[0].reason).toBe('run without a request in shutdown.request: nothing to do');

    h.blackboard.set(SHUTDOWN_KEYS.done, true);
    ask();
    await h.run(controlledShutdown);
    expect(proxy.readyCalls).toEqual([]);
  });

  it('stops when its run is aborted', async () => {
    const abort = new AbortController();
    ask();
    const run = h.run(controlledShutdown, abort.signal).catch((err: unknown) => err);
    await clock.advance(500);
    abort.abort(new Error('timed out'));
    expect(await drive(clock, run)).toMatchObject({ message: 'timed out' });
    expect(progress().phases.map((p) => p.name)).toEqual(['not-ready']);
    expect(h.blackboard.has(SHUTDOWN_KEYS.done)).toBe(false);
  });

  it('the first request stands', () => {
    ask();
    requestShutdown(h.blackboard, { by: 'scale-down', reason: 'idle', at: clock.now() });
    expect(h.blackboard.get(SHUTDOWN_KEYS.request)).toMatchObject({ by: 'operator' });
  });
});
