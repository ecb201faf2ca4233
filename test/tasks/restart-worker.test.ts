import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { VirtualClock } from '../../governor/virtual-clock.js';
import type { Cloud } from '../../governor/cloud/port.js';
import type { ConfigInput } from '../../governor/config.js';
import type { Intent } from '../../governor/facts.js';
import type { ProxyControl, WorkerSample } from '../../proxy/types.js';
import restartWorker, { RESTART_KEYS, spinningWorker, type RestartAttempt } from '../../tasks/restart-worker.js';
import { SIGNAL_KEYS } from '../../tasks/signals.js';
import { TaskHarness, testConfig } from './context.js';
import { FakeProxy, sampleOf } from './fake-proxy.js';
import { FakeProxyWithControls } from './fake-proxy-controls.js';

/** The action task must not touch the cloud: every call fails the test. */
const noCloud = new Proxy({} as Cloud, {
  get: (_t, method) => () => Promise.reject(new Error(`restart-worker called cloud.${String(method)}`)),
});

const worker = (id: number, busy: number, requests: number): WorkerSample => ({ id, pid: 4000 + id, busy, requests, inFlight: 0 });
const SPIN_FACTS = { 'secondsAbove(workers.idleBusyMax,0.8)': 61 };

describe('restart-worker task', () => {
  let clock: VirtualClock;
  let proxy: FakeProxyWithControls;

  beforeEach(() => {
    clock = new VirtualClock();
    proxy = new FakeProxyWithControls(clock);
  });
  afterEach(() => clock.uninstall());

  /** A governor with proxy `p` (null: none). */
  function harness(p: ProxyControl | null = proxy, config: ConfigInput = {}): TaskHarness {
    return new TaskHarness({ clock, config: testConfig(config), cloud: noCloud, proxy: p ?? undefined });
  }
  /** The latest sample, as the signals task leaves it, and as the proxy knows its workers. */
  function sample(h: TaskHarness, workers: WorkerSample[] | undefined): void {
    const s = sampleOf({ workers, requests: workers?.reduce((n, w) => n + w.requests, 0) ?? 0 });
    proxy.next = s;
    h.blackboard.set(SIGNAL_KEYS.sample, s);
  }
  function want(h: TaskHarness, params: Record<string, unknown> = { minBusy: 0.8, cooldownSeconds: 300 }): void {
    const intent: Intent = { type: 'restart-worker', rule: 'busy-loop', file: 'busy-loop.json', params, facts: SPIN_FACTS, at: clock.now() };
    h.blackboard.set('intents.restart-worker', intent);
  }
  const codes = (h: TaskHarness) => h.entries('restart-worker').map((e) => `${e.kind}:${String(e.data?.code ?? '')}`);

  it('runs every 5 s within 30 s, and is among the default tasks', () => {
    expect(restartWorker).toMatchObject({ name: 'restart-worker', schedule: '*/5 * * * * *', timeoutMs: 30_000 });
    expect(testConfig().tasks.modules).toContain('restart-worker');
  });

  it('picks the busiest worker that received no request', () => {
    const workers = [worker(1, 0.95, 30), worker(2, 0.85, 0), worker(3, 0.99, 0), worker(4, 0.5, 0)];
    expect(spinningWorker(workers, 0.8)?.id).toBe(3);
    expect(spinningWorker(workers, 0.995)).toBeUndefined();
    expect(spinningWorker([worker(1, 0.95, 30)], 0.8)).toBeUndefined();
  });

  it('restarts the spinning worker and journals it with the rule, its facts and the worker', async () => {
    const h = harness();
    sample(h, [worker(1, 0.3, 40), worker(2, 0.97, 0), worker(3, 0.25, 35)]);
    want(h);
    await h.run(restartWorker);

    expect(proxy.restartCalls).toEqual([2]);
    const [entry] = h.entries('restart-worker');
    expect(entry).toMatchObject({
      kind: 'action',
      reason: expect.stringMatching(/^restarted worker 2 \(pid 4002, busy 97%, 0 request\(s\)\): it spins without serving; replaced by worker 100; rule 'busy-loop' \(busy-loop.json\)$/),
      facts: { ...SPIN_FACTS, worker: worker(2, 0.97, 0) },
      data: { worker: 2, pid: 4002, replacedBy: 100, rule: 'busy-loop', file: 'busy-loop.json' },
    });
    expect(h.blackboard.get<RestartAttempt>(RESTART_KEYS.last)).toEqual({ at: clock.now(), worker: worker(2, 0.97, 0), outcome: 'restarted', replacedBy: 100 });
  });

  it('does not restart again within the cooldown, journals that once a minute, and restarts after it', async () => {
    const h = harness();
    want(h, { cooldownSeconds: 120 });
    sample(h, [worker(1, 0.97, 0), worker(2, 0.2, 10)]);
    await h.run(restartWorker);
    expect(proxy.restartCalls).toEqual([1]);

    // the replacement spins too (say, a poison request): the intent stays current
    for (let s = 5; s <= 115; s += 5) {
      await clock.advance(5000);
      want(h, { cooldownSeconds: 120 });
      sample(h, [worker(100, 0.98, 0), worker(2, 0.2, 10)]);
      await h.run(restartWorker);
    }
    expect(proxy.restartCalls).toEqual([1]);
    const held = h.journal.query({ name: 'restart-worker', kind: 'suppressed' });
    expect(held).toHaveLength(2); // at 5 s and again a minute later
    expect(held[0].reason).toMatch(/^no restart: cooldown: worker 1 was restarted 5 s ago \(restarted\); not again within 120 s; rule 'busy-loop'/);

    await clock.advance(5000);
    want(h, { cooldownSeconds: 120 });
    await h.run(restartWorker);
    expect(proxy.restartCalls).toEqual([1, 100]);
  });

  it('restarts nothing when no worker spins in the latest sample, and says which is busiest', async () => {
    const h = harness();
    sample(h, [worker(1, 0.9, 50), worker(2, 0.85, 45)]);
    want(h);
    await h.run(restartWorker);
    await h.run(restartWorker);

    expect(proxy.restartCalls).toEqual([]);
    expect(codes(h)).toEqual(['suppressed:no-spinning-worker']);
    expect(h.entries('restart-worker')[0].reason).toMatch(/no worker spins in the latest sample \(busy >= 80% with no request\): the busiest is worker 1 \(pid 4001, busy 90%, 50 request\(s\)\)/);
  });

  it('journals that a restart is unavailable without workers, without restartWorker, or without a proxy', async () => {
    const inProcess = harness();
    sample(inProcess, undefined);
    want(inProcess);
    await inProcess.run(restartWorker);
    expect(inProcess.entries('restart-worker')[0].reason).toMatch(/restarting a worker is unavailable: the proxy runs in the governor's process \(no workers\)/);

    const plain = new FakeProxy();
    const noControls = harness(plain);
    noControls.blackboard.set(SIGNAL_KEYS.sample, sampleOf({ workers: [worker(1, 1, 0)] }));
    want(noControls);
    await noControls.run(restartWorker);
    expect(noControls.entries('restart-worker')[0].reason).toMatch(/unavailable: the proxy cannot restart workers/);

    const none = harness(null);
    want(none);
    await none.run(restartWorker);
    expect(none.entries('restart-worker')[0].reason).toMatch(/unavailable: no proxy in this governor/);
    for (const h of [inProcess, noControls, none]) expect(codes(h)).toEqual(['suppressed:unavailable']);
    expect(proxy.restartCalls).toEqual([]);
  });

  it('does nothing without a current intent (none, or older than 30 s)', async () => {
    const h = harness();
    sample(h, [worker(1, 1, 0)]);
    await h.run(restartWorker);
    want(h);
    await clock.advance(31_000);
    await h.run(restartWorker);
    expect(proxy.restartCalls).toEqual([]);
    expect(h.entries('restart-worker')).toEqual([]);
  });

  it('rejects bad event params with the rule, the param and the expectation, and acts on none', async () => {
    const h = harness();
    sample(h, [worker(1, 1, 0)]);
    want(h, { minBusy: 1.5, cooldown: 60 });
    await h.run(restartWorker);

    expect(proxy.restartCalls).toEqual([]);
    const [entry] = h.entries('restart-worker');
    expect(entry.kind).toBe('error');
    expect(entry.data?.error).toMatchObject({ code: 'GOV_ERR_ACTION_PARAMS' });
    expect(entry.reason).toMatch(/^not acting: rule 'busy-loop' \(busy-loop.json\), event restart-worker: unknown param 'cooldown' \(known: cooldownSeconds, minBusy\); 'minBusy' is 1.5: expected a number from 0 to 1 \(busy fraction\)$/);
  });

  it('journals a failed restart as an error and waits out the cooldown before trying again', async () => {
    const h = harness();
    proxy.restartFailure = new Error('fork failed');
    sample(h, [worker(1, 1, 0)]);
    want(h);
    await h.run(restartWorker);
    await clock.advance(5000);
    want(h);
    await h.run(restartWorker);

    expect(proxy.restartCalls).toEqual([1]);
    expect(codes(h)).toEqual(['error:', 'suppressed:cooldown']);
    expect(h.entries('restart-worker')[0].reason).toMatch(/^restart of worker 1 \(pid 4001, busy 100%, 0 request\(s\)\) failed: fork failed/);
    expect(h.blackboard.get<RestartAttempt>(RESTART_KEYS.last)).toMatchObject({ outcome: 'failed', error: { message: 'fork failed' } });
  });

  it('in dry-run mode journals the restart it would make and restarts nothing', async () => {
    const h = harness(proxy, { scaling: { dryRun: true } });
    sample(h, [worker(1, 1, 0)]);
    want(h);
    await h.run(restartWorker);

    expect(proxy.restartCalls).toEqual([]);
    expect(h.entries('restart-worker')).toEqual([
      expect.objectContaining({ kind: 'action', reason: expect.stringMatching(/^dry run, not restarting worker 1/), data: { code: 'dry-run', dryRun: true } }),
    ]);
  });
});
