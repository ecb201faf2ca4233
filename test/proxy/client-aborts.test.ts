import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startOrigin, startProxy, waitFor } from './harness.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

function openRequest(port: number, path: string): net.Socket {
  const socket = net.connect(port, '127.0.0.1', () => socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`));
  socket.on('error', () => {});
  return socket;
}

describe('clients that go away', () => {
  it('2,000 requests aborted while the origin is slow leave no origin connection open', async () => {
    const BATCHES = 40;
    const PER_BATCH = 50;
    const origin = await startOrigin(() => {}); // never answers: only the proxy can close these connections
    cleanups.push(() => origin.close());
    const proxy = await startProxy(origin.url, { maxInFlight: 64, maxQueue: 0, upstreamTimeoutMs: 60_000 });
    cleanups.push(() => proxy.close());
    const started = Date.now();

    for (let batch = 0; batch < BATCHES; batch++) {
      const sockets = Array.from({ length: PER_BATCH }, (_, i) => openRequest(proxy.port, `/${batch}/${i}`));
      await waitFor(() => origin.received.length === (batch + 1) * PER_BATCH, `batch ${batch} at the origin`);
      for (const socket of sockets) socket.destroy();
      await waitFor(() => proxy.sample().inFlight === 0, `batch ${batch} released`);
    }

    await waitFor(() => origin.open.size === 0, 'every origin connection closed');
    expect(origin.received).toHaveLength(BATCHES * PER_BATCH);
    expect(proxy.totals().errors).toEqual({ GOV_ERR_PROXY_CLIENT_GONE: BATCHES * PER_BATCH });
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it('a client that goes away before the origin answers does not affect the next request', async () => {
    const origin = await startOrigin((req, res) => {
      if (req.url !== '/slow') res.end('fast'); // '/slow' never gets an answer
    });
    cleanups.push(() => origin.close());
    const proxy = await startProxy(origin.url, { maxInFlight: 1 });
    cleanups.push(() => proxy.close());

    const socket = openRequest(proxy.port, '/slow');
    await waitFor(() => origin.received.length === 1, 'slow request at the origin');
    socket.destroy();
    await waitFor(() => origin.open.size === 0, 'its origin connection closed', 1_000);

    const reply = await fetch(`${proxy.url}/fast`);
    expect(await reply.text()).toBe('fast');
  });
});
