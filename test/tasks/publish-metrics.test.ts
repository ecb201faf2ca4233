import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Blackboard } from '../../governor/blackboard.js';
import { VirtualClock } from '../../governor/virtual-clock.js';
import { metricsTarget } from '../../governor/cloud/metrics.js';
import type { ConfigInput } from '../../governor/config.js';
import { FLEET_SERIES, LOCAL_SERIES } from '../../governor/facts.js';
import { Journal } from '../../governor/journal.js';
import { createLogger } from '../../governor/log.js';
import { Scheduler } from '../../governor/scheduler.js';
import type { TaskRunRecord } from '../../governor/task.js';
import publishMetrics, { collectDatums, METRIC_NAMES, METRICS_KEYS } from '../../tasks/publish-metrics.js';
import { FakeCloudWatchServer, type MetricDatumRecord } from '../fakes/cloudwatch-server.js';
import { drive, realDelay, TaskHarness, TestRegion, testConfig, FLEET, REGION } from './context.js';
import { FakeProxy, sampleOf } from './fake-proxy.js';

const with5xx = (count: number) => sampleOf({ status: { '1xx': 0, '2xx': 100, '3xx': 0, '4xx': 0, '5xx': count } });

/** Thirty one-second samples ending now: busy 0.4, queue 3, wait p95 from 10 to 39 ms, 50 rps, 5 in flight. */
function fillSeries(bb: Blackboard, now: number): void {
  for (let s = 29; s >= 0; s--) {
    const at = now - s * 1000;
    bb.series(LOCAL_SERIES.busy).push(0.4, at);
    bb.series(LOCAL_SERIES.queueDepth).push(3, at);
    bb.series(LOCAL_SERIES.queueWaitP95Ms).push(10 + (29 - s), at);
    bb.series(LOCAL_SERIES.rps).push(50, at);
    bb.series(LOCAL_SERIES.inFlight).push(5, at);
  }
  bb.series(FLEET_SERIES.size).push(3, now);
}

/** A URL nothing listens on (a server was bound there, then closed). */
async function refusedUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return url;
}

describe('collectDatums', () => {
  let clock: VirtualClock;
  beforeEach(() => {
    clock = new VirtualClock();
  });
  afterEach(() => clock.uninstall());

  it('summarizes the window per instance and per fleet, plus the fleet size', () => {
    const bb = new Blackboard(clock);
    fillSeries(bb, clock.now());
    const datums = collectDatums(bb, { fleet: 'edge', instanceId: 'i-1', at: clock.now(), windowSeconds: 30, http5xx: 4 });
    const perInstance = datums.filter((d) => d.dimensions.InstanceId === 'i-1');
    const fleetWide = datums.filter((d) => d.dimensions.InstanceId === undefined);
    expect(perInstance.map((d) => [d.name, d.value, d.unit])).toEqual([
      [METRIC_NAMES.busy, expect.closeTo(40, 9), 'Percent'],
      [METRIC_NAMES.queueDepth, 3, 'Count'],
      [METRIC_NAMES.queueWaitP95, 38, 'Milliseconds'],
      [METRIC_NAMES.rps, 50, 'Count/Second'],
      [METRIC_NAMES.inFlight, 5, 'Count'],
      [METRIC_NAMES.http5xx, 4, 'Count'],
    ]);
    expect(fleetWide.map((d) => d.name)).toEqual([...perInstance.map((d) => d.name), METRIC_NAMES.fleetSize]);
    for (const d of fleetWide) expect(d.dimensions).toEqual({ Fleet: 'edge' });
    expect(fleetWide.at(-1)?.value).toBe(3);
    for (const d of datums) expect(d.at).toBe(clock.now());
  });

  it('leaves out what has no sample in the window, and creates no series', () => {
    const bb = new Blackboard(clock);
    bb.series(LOCAL_SERIES.busy).push(0.9, clock.now() - 60_000);
    bb.series(LOCAL_SERIES.rps).push(7, clock.now());
    const datums = collectDatums(bb, { fleet: 'edge', instanceId: 'i-1', at: clock.now(), windowSeconds: 30 });
    expect(datums.map((d) => d.name)).toEqual([METRIC_NAMES.rps, METRIC_NAMES.rps]);
    expect(bb.seriesNames().sort()).toEqual([LOCAL_SERIES.busy, LOCAL_SERIES.rps].sort());
  });
});

describe('metricsTarget', () => {
  const config = (metrics: ConfigInput['metrics'], adapter: 'local' | 'ec2' = 'local') => testConfig({ metrics, cloud: { adapter } });

  it('is off locally without an endpoint, on with one (static credentials), on with ec2, off when disabled', () => {
    expect(metricsTarget(config({}), {})).toMatchObject({ enabled: false, reason: expect.stringContaining('metrics.endpoint') });
    expect(metricsTarget(config({ endpoint: 'http://127.0.0.1:4566' }), {})).toEqual({
      enabled: true,
      endpoint: 'http://127.0.0.1:4566',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    const env = { AWS_ACCESS_KEY_ID: 'AK', AWS_SECRET_ACCESS_KEY: 'SK' };
    expect(metricsTarget(config({ endpoint: 'http://127.0.0.1:4566' }), env)).toMatchObject({ credentials: { accessKeyId: 'AK', secretAccessKey: 'SK' } });
    expect(metricsTarget(config({}, 'ec2'), {})).toEqual({ enabled: true });
    expect(metricsTarget(config({ enabled: false }, 'ec2'), {})).toMatchObject({ enabled: false, reason: expect.stringContaining('metrics.enabled is false') });
  });

  it('rejects a bad namespace, resolution or endpoint in the config', () => {
    expect(() => testConfig({ metrics: { namespace: 'AWS/EC2', storageResolution: 5 as 1, endpoint: 'ftp://x' } })).toThrow(
      /metrics\.namespace[\s\S]*metrics\.storageResolution = 5: expected one of 60, 1[\s\S]*metrics\.endpoint/,
    );
  });
});

describe('publish-metrics task', () => {
  let clock: VirtualClock;
  let region: TestRegion;
  let fake: FakeCloudWatchServer;
  let proxy: FakeProxy;
  let id: string;

  beforeEach(async () => {
    clock = new VirtualClock();
    region = await TestRegion.create(clock);
    [id] = await region.addRunning(1);
    fake = await FakeCloudWatchServer.start();
    proxy = new FakeProxy();
  });
  afterEach(async () => {
    clock.uninstall();
    await fake.close();
    await region.cleanup();
  });

  const harness = (metrics: ConfigInput['metrics']) =>
    new TaskHarness({ clock, config: testConfig({ metrics }), cloud: region.cloudFor(id), proxy });
  /** Runs the task once, letting real I/O complete while virtual time moves in small steps. */
  const runOnce = (h: TaskHarness) => drive(clock, h.run(publishMetrics), 10, 60_000);
  const names = (data: MetricDatumRecord[]) => data.map((d) => `${d.MetricName}${d.Dimensions?.length === 1 ? '@fleet' : ''}`);

  it('runs every 30 s, within its timeout', () => {
    expect(publishMetrics).toMatchObject({ name: 'publish-metrics', schedule: '*/30 * * * * *', timeoutMs: 25_000 });
  });

  it('records "metrics disabled" in the local region without an endpoint (journaled once) and sends nothing', async () => {
    const h = harness({});
    await runOnce(h);
    await runOnce(h);
    expect(h.blackboard.get(METRICS_KEYS.status)).toMatchObject({ enabled: false, reason: expect.stringMatching(/^metrics disabled/) });
    expect(h.entries('publish-metrics').map((e) => [e.kind, e.reason])).toEqual([['info', expect.stringMatching(/^metrics disabled/)]]);
    expect(fake.received).toHaveLength(0);
  });

  it('sends one batched PutMetricData to the configured endpoint, then the 5xx since the last publish', async () => {
    const h = harness({ endpoint: fake.url, namespace: 'Edge', storageResolution: 1 });
    fillSeries(h.blackboard, clock.now());
    proxy.next = with5xx(7);
    const startedAt = clock.now();
    await runOnce(h);

    expect(fake.received).toHaveLength(1);
    const [first] = fake.received;
    expect(first.namespace).toBe('Edge');
    expect(first.region).toBe(REGION);
    expect(names(first.metricData)).toEqual([
      'Busy', 'Busy@fleet', 'QueueDepth', 'QueueDepth@fleet', 'QueueWaitP95', 'QueueWaitP95@fleet',
      'RequestsPerSecond', 'RequestsPerSecond@fleet', 'InFlight', 'InFlight@fleet', 'Http5xx', 'Http5xx@fleet', 'FleetSize@fleet',
    ]);
    const busy = first.metricData[0];
    expect(busy).toMatchObject({ Value: expect.closeTo(40, 9), Unit: 'Percent', StorageResolution: 1 });
    expect(busy.Dimensions).toEqual([{ Name: 'Fleet', Value: FLEET }, { Name: 'InstanceId', Value: id }]);
    expect(first.metricData.find((d) => d.MetricName === 'Http5xx')?.Value).toBe(7);
    expect(h.blackboard.get(METRICS_KEYS.published)).toBe(1);
    expect(h.blackboard.get(METRICS_KEYS.lastPublish)).toEqual({ at: startedAt, datums: 13 });
    expect(busy.Timestamp).toBe(startedAt / 1000);
    expect(h.blackboard.get(METRICS_KEYS.status)).toEqual({ enabled: true, namespace: 'Edge', endpoint: fake.url });

    await clock.advance(30_000);
    proxy.next = with5xx(10);
    await runOnce(h);
    expect(fake.received).toHaveLength(2);
    expect(fake.received[1].metricData.find((d) => d.MetricName === 'Http5xx')?.Value).toBe(3);
    expect(h.entries('publish-metrics')).toEqual([]);
  });

  it('counts and journals an HTTP 500, carries the unpublished 5xx over, and journals the recovery', async () => {
    const h = harness({ endpoint: fake.url });
    fillSeries(h.blackboard, clock.now());
    proxy.next = with5xx(2);
    fake.failNext(2, { code: 'InternalServiceError', status: 500 });
    await runOnce(h);

    expect(fake.received).toHaveLength(0);
    expect(h.blackboard.get(METRICS_KEYS.failures)).toBe(1);
    expect(h.blackboard.get(METRICS_KEYS.lastError)).toMatchObject({ code: 'GOV_ERR_CLOUD_UNAVAILABLE' });
    const [failure] = h.entries('publish-metrics');
    expect(failure).toMatchObject({ kind: 'error', reason: expect.stringMatching(/^publishing metrics failed: PutMetricData: InternalService/) });
    expect(failure.data).toMatchObject({ datums: 13, failures: 1 });

    await clock.advance(30_000);
    fillSeries(h.blackboard, clock.now());
    proxy.next = with5xx(5);
    await runOnce(h);
    expect(fake.received).toHaveLength(1);
    expect(fake.received[0].metricData.find((d) => d.MetricName === 'Http5xx')?.Value).toBe(5);
    expect(h.blackboard.has(METRICS_KEYS.lastError)).toBe(false);
    expect(h.entries('publish-metrics').map((e) => e.kind)).toEqual(['error', 'info']);
    expect(h.entries('publish-metrics')[1].reason).toBe('publishing metrics recovered (1 failures since start)');
  });

  it('counts every refused connection but journals the same failure at most once a minute', async () => {
    const h = harness({ endpoint: await refusedUrl() });
    fillSeries(h.blackboard, clock.now());
    for (let i = 0; i < 3; i++) {
      await runOnce(h);
      await clock.advance(30_000);
    }
    expect(h.blackboard.get(METRICS_KEYS.failures)).toBe(3);
    expect(h.blackboard.get<{ message: string }>(METRICS_KEYS.lastError)?.message).toContain('ECONNREFUSED');
    expect(h.entries('publish-metrics').filter((e) => e.kind === 'error')).toHaveLength(2);
  });

  it('never affects the governor: under the scheduler the other tasks keep their pace and the run records stay ok', async () => {
    const config = testConfig({ metrics: { endpoint: await refusedUrl() } });
    const blackboard = new Blackboard(clock);
    const journal = new Journal({ clock, blackboard });
    const scheduler = new Scheduler({ clock, blackboard, journal, log: createLogger('silent'), services: { config, cloud: region.cloudFor(id), proxy } });
    let ticks = 0;
    scheduler.add({ name: 'tick', schedule: '*/1 * * * * *', timeoutMs: 900, run: () => void ticks++ });
    scheduler.add(publishMetrics);
    scheduler.start();
    try {
      // 95 virtual seconds, in small steps with real pauses so the sockets can answer
      for (let elapsed = 0; elapsed < 95_000; elapsed += 50) {
        await clock.advance(50);
        if (elapsed % 1000 === 0) await realDelay(2);
      }
      await realDelay(20);
      await clock.advance(100);
    } finally {
      const stopping = scheduler.stop(0);
      await clock.settle();
      await stopping;
    }
    expect(ticks).toBeGreaterThanOrEqual(94);
    const record = blackboard.get<TaskRunRecord>('tasks.publish-metrics');
    expect(record).toMatchObject({ outcome: 'ok', failures: 0 });
    expect(record?.runs).toBeGreaterThanOrEqual(3);
    expect(blackboard.get(METRICS_KEYS.failures)).toBe(record?.runs);
    expect(journal.query({ name: 'publish-metrics', kind: 'error' }).length).toBeGreaterThanOrEqual(1);
  });
});
