import { afterEach, describe, expect, it } from 'vitest';
import { defaultConfig } from '../../governor/config.js';
import { BusyMeter } from '../../proxy/busy.js';
import { Histogram } from '../../proxy/histogram.js';
import { ProxyStats, TOP_CLIENTS_LISTED } from '../../proxy/stats.js';
import { TopClients } from '../../proxy/top-clients.js';
import { rawExchange, request, startOrigin, startProxy, waitFor } from './harness.js';

describe('Histogram', () => {
  it('gives exact percentiles for small values and 0 when empty', () => {
    const h = new Histogram();
    expect([h.percentile(0.5), h.count, h.max]).toEqual([0, 0, 0]);
    for (let v = 1; v <= 10; v++) h.record(v);
    expect(h.percentile(0.5)).toBe(5);
    expect(h.percentile(0.95)).toBe(10);
    expect(h.percentile(0.1)).toBe(1);
    expect([h.count, h.max]).toEqual([10, 10]);
  });

  it('stays within 1/16 of the true percentile for large values', () => {
    const h = new Histogram();
    const values = Array.from({ length: 10_000 }, (_, i) => i + 1);
    for (const v of values) h.record(v);
    for (const q of [0.5, 0.95, 0.99]) {
      const truth = values[Math.ceil(q * values.length) - 1];
      expect(Math.abs(h.percentile(q) - truth) / truth).toBeLessThanOrEqual(1 / 16);
    }
    expect(h.max).toBe(10_000);
    expect(h.percentile(1)).toBeLessThanOrEqual(10_000);
  });

  it('never reports more than the largest value recorded, even beyond its range', () => {
    const h = new Histogram();
    h.record(3);
    h.record(2 ** 45);
    expect(h.percentile(1)).toBe(2 ** 45);
    h.reset();
    expect([h.count, h.max, h.percentile(0.5)]).toEqual([0, 0, 0]);
  });
});

describe('TopClients', () => {
  it('counts exactly while under capacity, most first', () => {
    const top = new TopClients(10);
    for (const a of ['a', 'b', 'a', 'c', 'a', 'b']) top.add(a);
    expect(top.top(2)).toEqual([
      { address: 'a', requests: 3 },
      { address: 'b', requests: 2 },
    ]);
  });

  it('tracks at most `capacity` addresses and still finds the heavy hitters among many', () => {
    const top = new TopClients(50); // guaranteed to track every address above 23,000 / 50 = 460 requests
    for (let i = 0; i < 20_000; i++) {
      top.add(`10.0.${Math.floor(i / 250)}.${i % 250}`); // 20,000 one-off addresses
      if (i % 10 === 0) top.add('198.51.100.1'); // 2,000 requests
      if (i % 20 === 0) top.add('198.51.100.2'); // 1,000 requests
    }
    expect(top.tracked).toBe(50);
    const [first, second] = top.top(2);
    expect(first.address).toBe('198.51.100.1');
    expect(second.address).toBe('198.51.100.2');
    expect(first.requests).toBeGreaterThanOrEqual(2_000);
    expect(first.requests).toBeLessThanOrEqual(2_000 + 23_000 / 50);
    expect(second.requests).toBeGreaterThanOrEqual(1_000);
  });

  it('rejects a capacity below 1', () => {
    expect(() => new TopClients(0)).toThrow(RangeError);
  });

  it('gives the same table as adding one request at a time, whatever the runs of one address', () => {
    /** Space-Saving one add at a time, without runs: the reference. */
    function reference(capacity: number, addresses: string[]): Array<{ address: string; requests: number }> {
      const counts = new Map<string, number>();
      for (const address of addresses) {
        const count = counts.get(address);
        if (count !== undefined) {
          counts.delete(address); // re-inserted last, as moving between count groups does
          counts.set(address, count + 1);
          continue;
        }
        if (counts.size < capacity) {
          counts.set(address, 1);
          continue;
        }
        const lowest = Math.min(...counts.values());
        const evicted = [...counts].find(([, n]) => n === lowest)?.[0] as string;
        counts.delete(evicted);
        counts.set(address, lowest + 1);
      }
      return [...counts].map(([address, requests]) => ({ address, requests }));
    }
    let seed = 7;
    const random = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % n);
    for (const capacity of [1, 3, 8]) {
      const addresses: string[] = [];
      for (let run = 0; run < 400; run++) {
        const address = `10.0.0.${random(12)}`;
        for (let i = 1 + random(random(2) === 0 ? 1 : 9); i > 0; i--) addresses.push(address);
      }
      const top = new TopClients(capacity);
      for (let i = 0; i < addresses.length; i++) {
        top.add(addresses[i]);
        if (i % 97 === 0) expect(new Set(top.top(capacity).map((one) => one.address))).toEqual(new Set(reference(capacity, addresses.slice(0, i + 1)).map((one) => one.address)));
      }
      const sorted = (rows: Array<{ address: string; requests: number }>) => [...rows].sort((a, b) => a.address.localeCompare(b.address));
      expect(sorted(top.top(capacity))).toEqual(sorted(reference(capacity, addresses)));
      expect(top.tracked).toBe(Math.min(capacity, new Set(addresses).size));
    }
  });
});

describe('ProxyStats', () => {
  it('reports the interval since the previous sample and keeps totals', () => {
    let now = 1_000;
    const stats = new ProxyStats(2, () => now);
    stats.received('10.0.0.1');
    stats.received('10.0.0.1');
    stats.received('10.0.0.2');
    stats.received('10.0.0.3');
    stats.admitted(0);
    stats.admitted(4);
    stats.wasShed();
    stats.failed('GOV_ERR_PROXY_SHED');
    stats.responded(200);
    stats.responded(503);
    stats.responded(999);
    stats.addBytesIn(10);
    stats.addBytesOut(20);
    now = 2_500;

    const first = stats.sample({ busy: 0.25, inFlight: 1, queueDepth: 2 });

    expect(first).toMatchObject({
      intervalMs: 1_500,
      busy: 0.25,
      requests: 4,
      shed: 1,
      status: { '1xx': 0, '2xx': 1, '3xx': 0, '4xx': 0, '5xx': 1 },
      queueWaitMs: { p50: 0, p95: 4, p99: 4, max: 4, count: 2 },
      inFlight: 1,
      queueDepth: 2,
      bytesIn: 10,
      bytesOut: 20,
    });
    expect(first.topClients).toHaveLength(2); // bounded by maxTrackedClients
    expect(first.topClients[0].address).toBe('10.0.0.1');

    now = 3_000;
    const second = stats.sample({ busy: 0, inFlight: 0, queueDepth: 0 });
    expect(second).toMatchObject({ intervalMs: 500, requests: 0, shed: 0, bytesIn: 0, topClients: [] });
    expect(second.queueWaitMs).toEqual({ p50: 0, p95: 0, p99: 0, max: 0, count: 0 });
    expect(stats.totals()).toEqual({
      requests: 4,
      shed: 1,
      status: { '1xx': 0, '2xx': 1, '3xx': 0, '4xx': 0, '5xx': 1 },
      bytesIn: 10,
      bytesOut: 20,
      errors: { GOV_ERR_PROXY_SHED: 1 },
    });
  });

  it('lists at most TOP_CLIENTS_LISTED clients', () => {
    const stats = new ProxyStats(100);
    for (let i = 0; i < 50; i++) stats.received(`10.0.0.${i}`);
    expect(stats.sample({ busy: 0, inFlight: 0, queueDepth: 0 }).topClients).toHaveLength(TOP_CLIENTS_LISTED);
  });
});

describe('BusyMeter', () => {
  it('reports the utilization of the interval, not of the process lifetime', async () => {
    const meter = new BusyMeter();
    const spinUntil = Date.now() + 150;
    while (Date.now() < spinUntil); // busy
    expect(meter.sample()).toBeGreaterThan(0.5);
    await new Promise((resolve) => setTimeout(resolve, 150)); // idle
    expect(meter.sample()).toBeLessThan(0.5);
  });
});

describe('proxy samples over HTTP', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    while (cleanups.length > 0) await cleanups.pop()?.();
  });

  it('counts every response once, whether written whole at once (hits, refusals) or streamed (misses)', async () => {
    const origin = await startOrigin((_req, res) => {
      res.setHeader('cache-control', 'max-age=600');
      res.end('0123456789');
    });
    cleanups.push(() => origin.close());
    const proxy = await startProxy(origin.url, { cache: { ...defaultConfig().proxy.cache, enabled: true } });
    cleanups.push(() => proxy.close());
    proxy.sample();

    expect((await request(proxy.url, { path: '/page' })).headers['x-governor-cache']).toBe('MISS');
    expect((await request(proxy.url, { path: '/page' })).headers['x-governor-cache']).toBe('HIT');
    expect((await request(proxy.url, { path: '/page' })).headers['x-governor-cache']).toBe('HIT');
    expect(await rawExchange(proxy.port, 'GET /page HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n')).toMatch(/^HTTP\/1\.1 400 /);

    await waitFor(() => proxy.totals().status['4xx'] === 1, 'the refusal counted');
    expect(proxy.sample()).toMatchObject({ requests: 4, status: { '1xx': 0, '2xx': 3, '3xx': 0, '4xx': 1, '5xx': 0 } });
  });

  it('counts requests, status classes, bytes, queueing time and the client address', async () => {
    const origin = await startOrigin((req, res) => {
      req.resume();
      req.on('end', () => {
        res.statusCode = req.url === '/missing' ? 404 : 200;
        res.end('0123456789');
      });
    });
    cleanups.push(() => origin.close());
    const proxy = await startProxy(origin.url);
    cleanups.push(() => proxy.close());
    proxy.sample();

    await request(proxy.url, { method: 'POST', body: 'abcde' });
    await request(proxy.url, { path: '/missing' });
    const sample = proxy.sample();

    expect(sample).toMatchObject({
      requests: 2,
      shed: 0,
      status: { '2xx': 1, '4xx': 1 },
      bytesIn: 5,
      bytesOut: 20,
      inFlight: 0,
      queueDepth: 0,
      topClients: [{ address: '127.0.0.1', requests: 2 }],
    });
    expect(sample.queueWaitMs.count).toBe(2);
    expect(sample.busy).toBeGreaterThanOrEqual(0);
    expect(sample.busy).toBeLessThanOrEqual(1);
    expect(sample.intervalMs).toBeGreaterThan(0);
    expect(proxy.sample().requests).toBe(0);
  });
});
