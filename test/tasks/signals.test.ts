import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { VirtualClock } from '../../governor/clock.js';
import type { Cloud, SignalSummary } from '../../governor/cloud/port.js';
import { LOCAL_SERIES, PLAIN_FACTS } from '../../governor/facts.js';
import signals, { SIGNAL_KEYS } from '../../tasks/signals.js';
import { TaskHarness, testConfig } from './context.js';
import { FakeProxy, sampleOf } from './fake-proxy.js';

/** The signals task must not touch the cloud: every call fails the test. */
const noCloud = new Proxy({} as Cloud, {
  get: (_t, method) => () => Promise.reject(new Error(`signals called cloud.${String(method)}`)),
});

describe('signals task', () => {
  let clock: VirtualClock;
  let proxy: FakeProxy;
  let h: TaskHarness;

  beforeEach(() => {
    clock = new VirtualClock();
    proxy = new FakeProxy();
    h = new TaskHarness({ clock, config: testConfig({ scaling: { warmupMs: 10_000 } }), cloud: noCloud, proxy });
  });
  afterEach(() => clock.uninstall());

  /** One run per virtual second. */
  async function tick(seconds = 1): Promise<void> {
    for (let i = 0; i < seconds; i++) {
      await h.run(signals);
      await clock.advance(1000);
    }
  }

  it('runs every second within 900 ms', () => {
    expect(signals).toMatchObject({ name: 'signals', schedule: '*/1 * * * * *', timeoutMs: 900 });
  });

  it('pushes the interval sample into the local series, rates per second', async () => {
    proxy.next = sampleOf({
      intervalMs: 500,
      busy: 0.25,
      requests: 30,
      shed: 2,
      queueDepth: 4,
      inFlight: 9,
      queueWaitMs: { p50: 3, p95: 40, p99: 80, max: 90, count: 28 },
    });
    await h.run(signals);
    const last = (name: string) => h.blackboard.series(name).last();
    expect(last(LOCAL_SERIES.busy)).toBe(0.25);
    expect(last(LOCAL_SERIES.rps)).toBe(60); // 30 in 500 ms
    expect(last(LOCAL_SERIES.shedPerSecond)).toBe(4);
    expect(last(LOCAL_SERIES.queueDepth)).toBe(4);
    expect(last(LOCAL_SERIES.queueWaitP95Ms)).toBe(40);
    expect(last(LOCAL_SERIES.inFlight)).toBe(9);
    expect(h.blackboard.get(SIGNAL_KEYS.sample)).toBe(proxy.next);
  });

  it('summarizes 1, 5 and 15 minute busy averages for peers', async () => {
    proxy.next = sampleOf({ busy: 0.9, requests: 10 });
    await tick(60);
    proxy.next = sampleOf({ busy: 0.3, requests: 10 });
    await tick(60);
    await h.run(signals);
    const summary = h.blackboard.get<SignalSummary>(SIGNAL_KEYS.summary)!;
    expect(summary.at).toBe(clock.now());
    expect(summary.busy1m).toBeCloseTo(0.3, 5);
    expect(summary.busy5m).toBeCloseTo((60 * 0.9 + 61 * 0.3) / 121, 5);
    expect(summary.busy15m).toBeCloseTo(summary.busy5m, 5);
    expect(summary.rps).toBe(10);
    expect(summary.ready).toBe(true);
  });

  it('fills the windows once the busy series covers the warm-up, and says so once', async () => {
    await tick(10);
    expect(h.blackboard.get(PLAIN_FACTS.windowsFilled)).toBe(false);
    expect(h.blackboard.get<SignalSummary>(SIGNAL_KEYS.summary)!.windowsFilled).toBe(false);
    await tick(2);
    expect(h.blackboard.get(PLAIN_FACTS.windowsFilled)).toBe(true);
    expect(h.blackboard.get<SignalSummary>(SIGNAL_KEYS.summary)!.windowsFilled).toBe(true);
    await tick(3);
    expect(h.entries('signals').map((e) => e.reason)).toEqual([
      'signal windows filled (10 s of history): scaling intents may act',
    ]);
  });

  it('reports not ready while a shutdown is in progress', async () => {
    h.blackboard.set('shutdown.phase', 'drain');
    await h.run(signals);
    expect(h.blackboard.get<SignalSummary>(SIGNAL_KEYS.summary)!.ready).toBe(false);
  });

  it('without a proxy samples nothing and records why, once', async () => {
    const bare = new TaskHarness({ clock, config: testConfig(), cloud: noCloud });
    await bare.run(signals);
    await bare.run(signals);
    expect(bare.blackboard.get(SIGNAL_KEYS.unavailable)).toMatch(/no proxy/);
    expect(bare.blackboard.seriesNames()).toEqual([]);
    expect(bare.entries('signals')).toHaveLength(1);
  });
});
