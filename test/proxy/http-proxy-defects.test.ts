import { spawnSync } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import httpProxy from 'http-proxy';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultConfig } from '../../governor/config.js';
import { rawExchange, startOrigin, startProxy, startRawOrigin, waitFor, type TestOrigin } from './harness.js';

/**
 * Each known defect of http-proxy 1.18 that the edge proxy works around: first shown on a bare
 * http-proxy (the library the proxy is built on, same version), then shown handled by the proxy.
 * When a bare case stops failing, the library fixed it and the workaround can go.
 */

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

/** An origin that records each request's body too; `respond` false leaves requests unanswered. */
async function origin(respond = true): Promise<TestOrigin & { bodies: string[] }> {
  const bodies: string[] = [];
  const started = await startOrigin((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      bodies.push(body);
      if (respond) res.end('ok');
    });
  });
  cleanups.push(() => started.close());
  return Object.assign(started, { bodies });
}

/** A bare http-proxy in front of `target` with a keep-alive agent, the way its README shows. */
async function bareProxy(target: string, options: httpProxy.ServerOptions = {}): Promise<{ port: number; errors: NodeJS.ErrnoException[] }> {
  const agent = new http.Agent({ keepAlive: true });
  const proxy = httpProxy.createProxyServer({ target, agent });
  const errors: NodeJS.ErrnoException[] = [];
  const server = http.createServer((req, res) =>
    proxy.web(req, res, options, (err: NodeJS.ErrnoException) => {
      errors.push(err);
      res.destroy();
    }),
  );
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(
    () =>
      new Promise((resolve) => {
        agent.destroy();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  );
  return { port: (server.address() as net.AddressInfo).port, errors };
}

async function ourProxy(target: string, overrides: Parameters<typeof startProxy>[1] = {}) {
  const proxy = await startProxy(target, overrides);
  cleanups.push(() => proxy.close());
  return proxy;
}

/** Sends a whole GET on a new connection, waits until the origin has it, then goes away. */
async function sendAndLeave(port: number, origin: TestOrigin): Promise<void> {
  const before = origin.received.length;
  const socket = net.connect(port, '127.0.0.1', () => socket.write('GET /slow HTTP/1.1\r\nHost: x\r\n\r\n'));
  socket.on('error', () => {});
  await waitFor(() => origin.received.length === before + 1, 'the request at the origin');
  socket.destroy();
}

describe('http-proxy defects, handled', () => {
  it("#1559: a client leaving after its whole request leaves the origin request open; the proxy destroys it", async () => {
    const silent = await origin(false);
    const bare = await bareProxy(silent.url);
    await sendAndLeave(bare.port, silent);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(silent.open.size).toBe(1); // http-proxy waits for an 'aborted' event Node no longer emits

    const proxy = await ourProxy(silent.url, { upstreamTimeoutMs: 60_000 });
    await sendAndLeave(proxy.port, silent);
    await waitFor(() => silent.open.size === 1, 'only the bare proxy connection left', 1_000);
    expect(proxy.totals().errors).toEqual({ GOV_ERR_PROXY_CLIENT_GONE: 1 });
  });

  it('#1647, #1261: a request with a Trailer header crashes a bare http-proxy process; the proxy answers it', async () => {
    const script = `
      const http = require('node:http'); const net = require('node:net'); const httpProxy = require('http-proxy');
      const origin = http.createServer((req, res) => res.end('ok')).listen(0, '127.0.0.1', () => {
        const proxy = httpProxy.createProxyServer({ target: 'http://127.0.0.1:' + origin.address().port, agent: new http.Agent({ keepAlive: true }) });
        const front = http.createServer((req, res) => proxy.web(req, res, {}, () => res.destroy())).listen(0, '127.0.0.1', () => {
          const socket = net.connect(front.address().port, '127.0.0.1', () => socket.write('GET / HTTP/1.1\\r\\nHost: x\\r\\nTrailer: x-sum\\r\\n\\r\\n'));
          socket.on('data', () => process.exit(0));
        });
      });`;
    const bare = spawnSync(process.execPath, ['-e', script], { cwd: process.cwd(), encoding: 'utf8', timeout: 10_000 });
    expect(bare.status).toBe(1);
    expect(bare.stderr).toContain('ERR_HTTP_TRAILER_INVALID');

    const target = await origin();
    const proxy = await ourProxy(target.url);
    const answer = await rawExchange(proxy.port, 'GET / HTTP/1.1\r\nHost: x\r\nTrailer: x-sum\r\nConnection: close\r\n\r\n');
    expect(answer).toMatch(/^HTTP\/1\.1 200 OK[\s\S]*ok$/);
  });

  it('#1343, #960: a chunked DELETE body is sent after Content-Length: 0 (a second request to the origin); the proxy forwards it chunked', async () => {
    const target = await origin();
    const bare = await bareProxy(target.url);
    const request = 'DELETE /item HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n';
    await rawExchange(bare.port, request, 200);
    expect(target.received[0].headers['content-length']).toBe('0');
    expect(target.bodies[0]).toBe('');

    const proxy = await ourProxy(target.url);
    const answer = await rawExchange(proxy.port, request);
    expect(answer).toMatch(/^HTTP\/1\.1 200 OK/);
    expect(target.received[1].headers['transfer-encoding']).toBe('chunked');
    expect(target.received[1].headers['content-length']).toBeUndefined();
    expect(target.bodies[1]).toBe('hello');
  });

  it('#775, #959: `//` in a path is collapsed; the proxy forwards path and query verbatim', async () => {
    const target = await origin();
    const bare = await bareProxy(target.url);
    await rawExchange(bare.port, 'GET /a//b?next=//c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 200);
    expect(target.received[0].url).toBe('/a/b?next=//c');

    const proxy = await ourProxy(`${target.url}/base/`);
    await rawExchange(proxy.port, 'GET /a//b?next=//c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(target.received[1].url).toBe('/base/a//b?next=//c');
  });

  it('#1331: proxyTimeout reports a timeout as ECONNRESET; the proxy answers 504 GOV_ERR_PROXY_UPSTREAM_TIMEOUT', async () => {
    const silent = await origin(false);
    const bare = await bareProxy(silent.url, { proxyTimeout: 100 });
    await rawExchange(bare.port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', 400);
    expect(bare.errors.map((err) => err.code)).toEqual(['ECONNRESET']);

    const proxy = await ourProxy(silent.url, { upstreamTimeoutMs: 100 });
    const answer = await rawExchange(proxy.port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(answer).toMatch(/^HTTP\/1\.1 504 /);
    expect(answer).toContain('x-governor-error: GOV_ERR_PROXY_UPSTREAM_TIMEOUT');
  });

  it('an origin reset that http-proxy swallows (the incoming socket is gone) still ends a background revalidation', async () => {
    let calls = 0;
    const resetting = await startRawOrigin((socket) =>
      socket.on('data', () => {
        calls++;
        // The first answer is stale at once but may be served while revalidating; revalidations are reset later.
        if (calls === 1) socket.write('HTTP/1.1 200 OK\r\nCache-Control: max-age=1, stale-while-revalidate=60\r\nAge: 2\r\nContent-Length: 2\r\n\r\nok');
        else setTimeout(() => socket.resetAndDestroy(), 100);
      }),
    );
    cleanups.push(() => resetting.close());
    const proxy = await ourProxy(resetting.url, { cache: { ...defaultConfig().proxy.cache, enabled: true } });
    const get = () => rawExchange(proxy.port, 'GET /page HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 50);

    expect(await get()).toContain('x-governor-cache: MISS');
    expect(await get()).toContain('x-governor-cache: STALE'); // its client is gone before the origin resets
    await waitFor(() => calls === 2, 'the background revalidation at the origin');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(await get()).toContain('x-governor-cache: STALE');
    await waitFor(() => calls === 3, 'a new revalidation: the reset one has ended', 1_000);
  });
});
