import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { VirtualClock } from '../../governor/virtual-clock.js';
import type { Cloud, SignalSummary } from '../../governor/cloud/port.js';
import { ANOMALY_SERIES, LOCAL_SERIES, PLAIN_FACTS } from '../../governor/facts.js';
import signals, { SIGNAL_KEYS } from '../../tasks/signals.js';
import { TaskHarness, testConfig } from './context.js';
import { FakeProxy, sampleOf } from './fake-proxy.js';
import { FakeProxyWithControls } from './fake-proxy-controls.js';

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

  it('writes the busiest idle worker for the busy-loop rule, only when the proxy has workers', async () => {
    const idleBusy = () => h.blackboard.series(ANOMALY_SERIES.idleWorkerBusyMax).last();
    const worker = (id: number, busy: number, requests: number) => ({ id, pid: id, busy, requests, inFlight: 0 });
    proxy.next = sampleOf({ busy: 0.5, requests: 20 });
    await tick();
    expect(h.blackboard.seriesNames()).not.toContain(ANOMALY_SERIES.idleWorkerBusyMax);

    proxy.next = sampleOf({ requests: 20, workers: [worker(1, 0.95, 20), worker(2, 0.6, 0), worker(3, 0.9, 0)] });
    await tick();
    expect(idleBusy()).toBe(0.9); // worker 1 is busier but served requests
    proxy.next = sampleOf({ requests: 30, workers: [worker(1, 0.95, 20), worker(2, 0.3, 10)] });
    await tick();
    expect(idleBusy()).toBe(0);
  });

  it('writes the share of the 3 busiest blockable clients not yet blocked for the denial-of-service rule', async () => {
    const controlled = new FakeProxyWithControls(clock);
    const hc = new TaskHarness({ clock, config: testConfig(), cloud: noCloud, proxy: controlled });
    const share = async (requests: number, clients: Array<[string, number]>) => {
      controlled.next = sampleOf({ requests, topClients: clients.map(([address, n]) => ({ address, requests: n })) });
      await hc.run(signals);
      return hc.blackboard.series(ANOMALY_SERIES.clientsTop3Share).last();
    };
    const clients: Array<[string, number]> = [['127.0.0.1', 500], ['10.0.0.1', 200], ['10.0.0.2', 100], ['10.0.0.3', 50], ['10.0.0.4', 40]];
    expect(await share(1000, clients)).toBeCloseTo(0.35, 9); // loopback left out: 200 + 100 + 50
    controlled.block('10.0.0.1', clock.now() + 60_000, 'test');
    expect(await share(1000, clients)).toBeCloseTo(0.19, 9); // 100 + 50 + 40
    expect(await share(100, [['10.0.0.9', 150]])).toBe(1); // an overestimated count is capped
    expect(await share(0, [])).toBe(0);
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
