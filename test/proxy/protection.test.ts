import net from 'node:net';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultConfig } from '../../governor/config.js';
import type { EdgeProxy, ProxyConfig } from '../../proxy/server.js';
import { request, startOrigin, startProxy, startRawOrigin, waitFor } from './harness.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

async function proxyTo(origin: string, overrides: Partial<ProxyConfig> = {}): Promise<EdgeProxy> {
  const proxy = await startProxy(origin, overrides);
  cleanups.push(() => proxy.close());
  return proxy;
}

async function closedPort(): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const budget = (over: Partial<ProxyConfig['retryBudget']>) => ({ ...defaultConfig().proxy.retryBudget, ...over });
const breaker = (over: Partial<ProxyConfig['breaker']>) => ({ ...defaultConfig().proxy.breaker, ...over });

describe('deadlines', () => {
  it('answers 504 GOV_ERR_PROXY_DEADLINE when the origin has not answered within deadlines.totalMs', async () => {
    const origin = await startOrigin((_req, res) => setTimeout(() => res.end('late'), 1_000));
    cleanups.push(() => origin.close());
    const proxy = await proxyTo(origin.url, { upstreamTimeoutMs: 5_000, deadlines: { totalMs: 200, connectMs: 1_000 } });
    const started = Date.now();

    const reply = await request(proxy.url);

    expect(reply.status).toBe(504);
    expect(reply.headers['x-governor-error']).toBe('GOV_ERR_PROXY_DEADLINE');
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    expect(Date.now() - started).toBeLessThan(900);
    await waitFor(() => origin.open.size === 0, 'the origin connection closed');
  });

  it('counts the time a request spent queued against its deadline', async () => {
    const origin = await startOrigin((_req, res) => setTimeout(() => res.end('ok'), 300));
    cleanups.push(() => origin.close());
    const proxy = await proxyTo(origin.url, { maxInFlight: 1, deadlines: { totalMs: 400, connectMs: 1_000 } });

    const [first, second] = await Promise.all([request(proxy.url, { path: '/1' }), request(proxy.url, { path: '/2' })]);

    expect(first.status).toBe(200);
    expect(second.status).toBe(504); // queued 300 ms, then 100 ms left for a 300 ms answer
  });
});

describe('retries and the retry budget', () => {
  it('retries an idempotent request that could not connect, up to maxRetries, then answers 502', async () => {
    const proxy = await proxyTo(`http://127.0.0.1:${await closedPort()}`, { retryBudget: budget({ maxRetries: 2 }), breaker: breaker({ enabled: false }) });

    const reply = await request(proxy.url);

    expect(reply.headers['x-governor-error']).toBe('GOV_ERR_PROXY_UPSTREAM_REFUSED');
    expect(proxy.totals().origin?.retries).toBe(2);
  });

  it('never retries a request with a body, nor one that reached the origin', async () => {
    let connections = 0;
    const origin = await startRawOrigin((socket) => {
      connections++;
      socket.once('data', () => socket.resetAndDestroy());
    });
    cleanups.push(() => origin.close());
    const refused = await proxyTo(`http://127.0.0.1:${await closedPort()}`, { breaker: breaker({ enabled: false }) });
    const proxy = await proxyTo(origin.url, { breaker: breaker({ enabled: false }) });

    await request(refused.url, { method: 'PUT', body: 'payload' });
    const reset = await request(proxy.url);

    expect(refused.totals().origin?.retries).toBe(0);
    expect(reset.headers['x-governor-error']).toBe('GOV_ERR_PROXY_UPSTREAM_RESET');
    expect(connections).toBe(1);
  });

  it('keeps retries within the budget: at most ratio x requests when there is no floor', async () => {
    const proxy = await proxyTo(`http://127.0.0.1:${await closedPort()}`, {
      retryBudget: budget({ ratio: 0.25, minPerSecond: 0, maxRetries: 3 }),
      breaker: breaker({ enabled: false }),
    });

    for (let i = 0; i < 20; i++) await request(proxy.url);

    const origin = proxy.totals().origin;
    expect(origin?.retries).toBeLessThanOrEqual(5);
    expect(origin?.retries).toBeGreaterThanOrEqual(4);
    expect(origin?.retriesRefused).toBeGreaterThan(0);
  });
});

describe('circuit breaker', () => {
  it('opens after consecutive failures, fails fast with 503 and Retry-After, and closes after a good probe', async () => {
    let healthy = false;
    const origin = await startOrigin((_req, res) => {
      res.writeHead(healthy ? 200 : 503);
      res.end(healthy ? 'ok' : 'down');
    });
    cleanups.push(() => origin.close());
    const proxy = await proxyTo(origin.url, { breaker: breaker({ failures: 3, cooldownMs: 300, maxCooldownMs: 1_000 }) });

    for (let i = 0; i < 3; i++) expect((await request(proxy.url)).status).toBe(503);
    const fast = await request(proxy.url);

    expect(fast.headers['x-governor-error']).toBe('GOV_ERR_PROXY_CIRCUIT_OPEN');
    expect(Number(fast.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(origin.received).toHaveLength(3);
    expect(proxy.totals().origin).toMatchObject({ circuit: 'open', circuitOpened: 1 });
    healthy = true;
    await new Promise((resolve) => setTimeout(resolve, 320));
    expect(await request(proxy.url)).toMatchObject({ status: 200, body: 'ok' });
    expect(proxy.totals().origin?.circuit).toBe('closed');
  });

  it('serves a stale copy (stale-if-error) instead of failing fast while open', async () => {
    let calls = 0;
    const origin = await startOrigin((_req, res) => {
      calls++;
      if (calls === 1) {
        res.writeHead(200, { 'cache-control': 'max-age=1, stale-if-error=600', age: '2' });
        res.end('kept');
        return;
      }
      res.writeHead(502);
      res.end();
    });
    cleanups.push(() => origin.close());
    const proxy = await proxyTo(origin.url, {
      cache: { ...defaultConfig().proxy.cache, enabled: true },
      breaker: breaker({ failures: 1, cooldownMs: 60_000 }),
    });

    await request(proxy.url, { path: '/p' });
    const during = await request(proxy.url, { path: '/p' }); // the origin fails: stale, and the circuit opens
    const open = await request(proxy.url, { path: '/p' }); // fails fast at the breaker: stale again

    expect(during).toMatchObject({ status: 200, body: 'kept' });
    expect(open).toMatchObject({ status: 200, body: 'kept' });
    expect(open.headers['x-governor-cache']).toBe('STALE');
    expect(calls).toBe(2);
  });
});

describe('denylist', () => {
  it('refuses a blocked client with 403 before admission, until unblocked or expired', async () => {
    const origin = await startOrigin((_req, res) => res.end('ok'));
    cleanups.push(() => origin.close());
    const proxy = await proxyTo(origin.url);

    proxy.block('127.0.0.1', Date.now() + 60_000, 'test flood');
    const blocked = await request(proxy.url);
    expect(blocked.status).toBe(403);
    expect(blocked.headers['x-governor-error']).toBe('GOV_ERR_PROXY_BLOCKED');
    expect(blocked.headers.connection).toBe('close');
    expect(proxy.blocked()).toEqual([{ address: '127.0.0.1', untilMs: expect.any(Number), reason: 'test flood' }]);
    expect(origin.received).toHaveLength(0);

    expect(proxy.unblock('127.0.0.1')).toBe(true);
    expect((await request(proxy.url)).status).toBe(200);
    proxy.block('127.0.0.1', Date.now() + 100, 'short');
    expect((await request(proxy.url)).status).toBe(403);
    await new Promise((resolve) => setTimeout(resolve, 120));
    expect((await request(proxy.url)).status).toBe(200);
    expect(proxy.totals().errors.GOV_ERR_PROXY_BLOCKED).toBe(2);
  });
});
