import net from 'node:net';
import http from 'node:http';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
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

async function rawOrigin(onConnection: (socket: net.Socket) => void): Promise<string> {
  const origin = await startRawOrigin(onConnection);
  cleanups.push(() => origin.close());
  return origin.url;
}

/** A port that was just free: nothing listens there. */
async function closedPort(): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Resolves with how the response ended: complete, or cut after the head. */
function fetchOutcome(url: string): Promise<{ status: number; body: string; complete: boolean }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false }, (res) => {
      let body = '';
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, complete: true }));
      res.on('error', () => resolve({ status: res.statusCode ?? 0, body, complete: false }));
    });
    req.on('error', reject);
  });
}

describe('origin failures', () => {
  it('an origin that refuses the connection gives 502 GOV_ERR_PROXY_UPSTREAM_REFUSED', async () => {
    const proxy = await proxyTo(`http://127.0.0.1:${await closedPort()}`);

    const reply = await request(proxy.url);

    expect(reply.status).toBe(502);
    expect(reply.headers['x-governor-error']).toBe('GOV_ERR_PROXY_UPSTREAM_REFUSED');
    expect(JSON.parse(reply.body).error.code).toBe('GOV_ERR_PROXY_UPSTREAM_REFUSED');
    expect(proxy.totals().errors).toEqual({ GOV_ERR_PROXY_UPSTREAM_REFUSED: 1 });
    expect(proxy.totals().status['5xx']).toBe(1);
  });

  it('an origin that resets before answering gives 502 GOV_ERR_PROXY_UPSTREAM_RESET', async () => {
    const proxy = await proxyTo(await rawOrigin((socket) => socket.once('data', () => socket.resetAndDestroy())));

    const reply = await request(proxy.url);

    expect(reply.status).toBe(502);
    expect(reply.headers['x-governor-error']).toBe('GOV_ERR_PROXY_UPSTREAM_RESET');
  });

  it('an origin that closes the connection before answering gives 502 GOV_ERR_PROXY_UPSTREAM_RESET', async () => {
    const proxy = await proxyTo(await rawOrigin((socket) => socket.once('data', () => socket.end())));

    const reply = await request(proxy.url);

    expect(reply.status).toBe(502);
    expect(reply.headers['x-governor-error']).toBe('GOV_ERR_PROXY_UPSTREAM_RESET');
  });

  it('an origin that resets mid-response cuts the client response; the proxy keeps serving', async () => {
    let calls = 0;
    const proxy = await proxyTo(
      await rawOrigin((socket) =>
        socket.on('data', () => {
          calls++;
          if (calls === 1) {
            socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial');
            setTimeout(() => socket.resetAndDestroy(), 30);
          } else {
            socket.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok');
          }
        }),
      ),
    );

    const cut = await fetchOutcome(proxy.url);
    expect(cut).toEqual({ status: 200, body: 'partial', complete: false });
    await waitFor(() => proxy.totals().errors.GOV_ERR_PROXY_UPSTREAM_RESET === 1, 'the reset recorded');
    expect(proxy.totals().errors.GOV_ERR_PROXY_CLIENT_GONE).toBeUndefined();
    expect(await request(proxy.url)).toMatchObject({ status: 200, body: 'ok' });
  });

  it('an origin that never answers gives 504 GOV_ERR_PROXY_UPSTREAM_TIMEOUT after upstreamTimeoutMs, and its connection is closed', async () => {
    const origin = await startOrigin(() => {});
    cleanups.push(() => origin.close());
    const proxy = await proxyTo(origin.url, { upstreamTimeoutMs: 200 });
    const started = Date.now();

    const reply = await request(proxy.url);

    const elapsed = Date.now() - started;
    expect(reply.status).toBe(504);
    expect(reply.headers['x-governor-error']).toBe('GOV_ERR_PROXY_UPSTREAM_TIMEOUT');
    expect(elapsed).toBeGreaterThanOrEqual(190);
    expect(elapsed).toBeLessThan(2_000);
    await waitFor(() => origin.open.size === 0, 'the origin connection closed');
    expect(proxy.sample().inFlight).toBe(0);
  });

  it('an origin that stops mid-body for upstreamTimeoutMs has its response cut', async () => {
    const origin = await startOrigin((_req, res) => {
      res.writeHead(200, { 'content-length': 100 });
      res.write('start');
    });
    cleanups.push(() => origin.close());
    const proxy = await proxyTo(origin.url, { upstreamTimeoutMs: 200 });

    const outcome = await fetchOutcome(proxy.url);

    expect(outcome).toEqual({ status: 200, body: 'start', complete: false });
    expect(proxy.totals().errors.GOV_ERR_PROXY_UPSTREAM_TIMEOUT).toBe(1);
    await waitFor(() => origin.open.size === 0, 'the origin connection closed');
  });

  it('an origin that is slow but within upstreamTimeoutMs is waited for', async () => {
    const origin = await startOrigin((_req, res) => setTimeout(() => res.end('slow'), 150));
    cleanups.push(() => origin.close());
    const proxy = await proxyTo(origin.url, { upstreamTimeoutMs: 400 });

    expect(await request(proxy.url)).toMatchObject({ status: 200, body: 'slow' });
  });
});
