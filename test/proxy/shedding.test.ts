import type { ServerResponse } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import type { EdgeProxy, ProxyConfig } from '../../proxy/server.js';
import { request, startOrigin, startProxy, waitFor, type Reply, type TestOrigin } from './harness.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

/** An origin that holds every response until the test releases it (oldest first). */
async function holdingPair(overrides: Partial<ProxyConfig>): Promise<{ origin: TestOrigin; proxy: EdgeProxy; held: ServerResponse[] }> {
  const held: ServerResponse[] = [];
  const origin = await startOrigin((_req, res) => held.push(res));
  cleanups.push(() => origin.close());
  const proxy = await startProxy(origin.url, overrides);
  cleanups.push(() => proxy.close());
  return { origin, proxy, held };
}

function release(held: ServerResponse[], body = 'ok'): void {
  held.shift()?.end(body);
}

describe('admission over HTTP', () => {
  it('beyond C in flight and Q queued, sheds at once with 503, Retry-After and a coded body; the queue runs FIFO', async () => {
    const { origin, proxy, held } = await holdingPair({ maxInFlight: 2, maxQueue: 2, retryAfterSeconds: 7 });
    const replies: Array<Promise<Reply>> = [];
    for (const id of ['a', 'b']) replies.push(request(proxy.url, { path: `/${id}` }));
    await waitFor(() => origin.received.length === 2, 'two requests at the origin');
    for (const id of ['c', 'd']) {
      replies.push(request(proxy.url, { path: `/${id}` }));
      await waitFor(() => proxy.sample().queueDepth > 0 || origin.received.length > 2, `${id} queued`);
    }
    await waitFor(() => proxy.totals().requests === 4, 'four requests received');

    const shed = await request(proxy.url, { path: '/e' });

    expect(shed.status).toBe(503);
    expect(shed.headers['retry-after']).toBe('7');
    expect(shed.headers['x-governor-error']).toBe('GOV_ERR_PROXY_SHED');
    expect(JSON.parse(shed.body)).toMatchObject({ error: { code: 'GOV_ERR_PROXY_SHED' } });
    expect(origin.received).toHaveLength(2);

    release(held);
    await waitFor(() => origin.received.length === 3, 'c dispatched');
    release(held);
    await waitFor(() => origin.received.length === 4, 'd dispatched');
    release(held);
    release(held);
    const done = await Promise.all(replies);
    expect(done.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect(origin.received.map((req) => req.url)).toEqual(['/a', '/b', '/c', '/d']);
    expect(proxy.totals()).toMatchObject({ requests: 5, shed: 1, errors: { GOV_ERR_PROXY_SHED: 1 } });
  });

  it('sheds a request that waited queueTimeoutMs in the queue', async () => {
    const { origin, proxy, held } = await holdingPair({ maxInFlight: 1, maxQueue: 1, queueTimeoutMs: 150 });
    const first = request(proxy.url);
    await waitFor(() => origin.received.length === 1, 'first at the origin');
    const started = Date.now();

    const queued = await request(proxy.url);

    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    expect(queued.status).toBe(503);
    expect(queued.headers['x-governor-error']).toBe('GOV_ERR_PROXY_QUEUE_TIMEOUT');
    expect(queued.headers['retry-after']).toBe('2');
    release(held);
    expect((await first).status).toBe(200);
    expect(origin.received).toHaveLength(1);
  });

  it('a client leaving while queued gives its place up', async () => {
    const { origin, proxy, held } = await holdingPair({ maxInFlight: 1, maxQueue: 2 });
    const first = request(proxy.url, { path: '/first' });
    await waitFor(() => origin.received.length === 1, 'first at the origin');
    const controller = new AbortController();
    const gone = fetch(`${proxy.url}/gone`, { signal: controller.signal }).catch(() => 'aborted');
    await waitFor(() => proxy.sample().queueDepth === 1, 'one queued');
    controller.abort();
    await gone;
    await waitFor(() => proxy.sample().queueDepth === 0, 'queue empty');

    const next = request(proxy.url, { path: '/next' });
    await waitFor(() => proxy.sample().queueDepth === 1, 'next queued');
    release(held);
    await waitFor(() => origin.received.length === 2, 'next at the origin');
    release(held);

    expect((await first).status).toBe(200);
    expect((await next).status).toBe(200);
    expect(origin.received.map((req) => req.url)).toEqual(['/first', '/next']);
    expect(proxy.totals().errors.GOV_ERR_PROXY_CLIENT_GONE).toBe(1);
  });

  it('drain refuses new requests (503, Connection: close), lets in-flight and queued ones finish, then resolves', async () => {
    const { origin, proxy, held } = await holdingPair({ maxInFlight: 1, maxQueue: 4 });
    const inFlight = request(proxy.url, { path: '/in-flight' });
    await waitFor(() => origin.received.length === 1, 'in flight');
    const queued = request(proxy.url, { path: '/queued' });
    await waitFor(() => proxy.sample().queueDepth === 1, 'queued');

    const drained = proxy.drain(5_000);
    const refused = await request(proxy.url, { path: '/late' });

    expect(proxy.isReady()).toBe(false);
    expect(refused.status).toBe(503);
    expect(refused.headers['x-governor-error']).toBe('GOV_ERR_PROXY_DRAINING');
    expect(refused.headers.connection).toBe('close');
    expect(refused.headers['retry-after']).toBe('2');
    release(held, 'first');
    await waitFor(() => origin.received.length === 2, 'queued dispatched');
    release(held, 'second');
    await expect(drained).resolves.toEqual({ completed: 2, abandoned: 0 });
    const [a, b] = await Promise.all([inFlight, queued]);
    expect([a.status, a.body, b.status, b.body]).toEqual([200, 'first', 200, 'second']);
    expect(b.headers.connection).toBe('close');
    expect(origin.received.map((req) => req.url)).toEqual(['/in-flight', '/queued']);
  });

  it('drain gives up at its deadline and reports what it abandoned', async () => {
    const { origin, proxy } = await holdingPair({ maxInFlight: 1, maxQueue: 1 });
    void request(proxy.url).catch(() => undefined);
    await waitFor(() => origin.received.length === 1, 'in flight');

    const started = Date.now();
    await expect(proxy.drain(150)).resolves.toEqual({ completed: 0, abandoned: 1 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
  });
});
