import http from 'node:http';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultConfig } from '../../governor/config.js';
import { request, startOrigin, startProxy, waitFor } from './harness.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

describe('client timeouts', () => {
  it('a client that sends nothing within clientTimeoutMs is disconnected', async () => {
    const origin = await startOrigin((_req, res) => res.end('ok'));
    cleanups.push(() => origin.close());
    const proxy = await startProxy(origin.url, { clientTimeoutMs: 200 });
    cleanups.push(() => proxy.close());
    const started = Date.now();

    await new Promise<void>((resolve) => {
      const socket = net.connect(proxy.port, '127.0.0.1');
      socket.resume(); // read what comes (Node's 408), so that the server's close is seen
      socket.on('close', () => resolve());
      socket.on('error', () => {});
    });

    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('a client that does not finish its request headers within clientTimeoutMs gets 408 and is disconnected', async () => {
    const origin = await startOrigin((_req, res) => res.end('ok'));
    cleanups.push(() => origin.close());
    const proxy = await startProxy(origin.url, { clientTimeoutMs: 200 });
    cleanups.push(() => proxy.close());
    const started = Date.now();

    const answer = await new Promise<string>((resolve) => {
      const socket = net.connect(proxy.port, '127.0.0.1', () => socket.write('GET / HTTP/1.1\r\nHost: x\r\n'));
      let text = '';
      socket.on('data', (chunk) => (text += chunk));
      socket.on('close', () => resolve(text));
      socket.on('error', () => {});
    });

    expect(answer).toMatch(/^HTTP\/1\.1 408/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(origin.received).toHaveLength(0);
  });

  it('a request waiting on a slow origin longer than clientTimeoutMs is not cut', async () => {
    const origin = await startOrigin((_req, res) => setTimeout(() => res.end('worth the wait'), 450));
    cleanups.push(() => origin.close());
    const proxy = await startProxy(origin.url, { clientTimeoutMs: 150, upstreamTimeoutMs: 2_000 });
    cleanups.push(() => proxy.close());

    expect(await request(proxy.url)).toMatchObject({ status: 200, body: 'worth the wait' });
  });

  // A reader must free about a third of the kernel's send buffer (megabytes on loopback) before the
  // proxy's socket can write again, so "slowly" is a few MB/s here; at clientTimeoutMs = 60 s the
  // same holds down to tens of KB/s.
  it('a client that reads its response slowly, for several times clientTimeoutMs in all, gets all of it', async () => {
    const body = Buffer.alloc(8 * 1024 * 1024, 'y');
    const origin = await startOrigin((_req, res) => res.end(body));
    cleanups.push(() => origin.close());
    const proxy = await startProxy(origin.url, { clientTimeoutMs: 500, upstreamTimeoutMs: 5_000 });
    cleanups.push(() => proxy.close());
    const started = Date.now();

    const received = await new Promise<number>((resolve, reject) => {
      http
        .get(`${proxy.url}/slow`, { agent: false }, (response) => {
          let bytes = 0;
          response.on('data', (chunk: Buffer) => {
            bytes += chunk.length;
            response.pause(); // a reader that takes a chunk every 10 ms
            setTimeout(() => response.resume(), 10);
          });
          response.on('end', () => resolve(bytes));
          response.on('error', reject);
        })
        .on('error', reject);
    });

    expect(received).toBe(body.length);
    expect(Date.now() - started).toBeGreaterThan(1_000);
    expect(proxy.totals().errors.GOV_ERR_PROXY_CLIENT_TIMEOUT).toBeUndefined();
  });

  it('an origin body is relayed no faster than the client takes it (the origin waits, the proxy holds little)', async () => {
    const chunk = Buffer.alloc(64 * 1024, 'x');
    let written = 0;
    const origin = await startOrigin((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      const pump = () => {
        while (written < 1024 * 1024 * 1024) {
          written += chunk.length;
          if (!res.write(chunk)) return;
        }
      };
      res.on('drain', pump);
      pump();
    });
    cleanups.push(() => origin.close());
    const proxy = await startProxy(origin.url, { clientTimeoutMs: 5_000, upstreamTimeoutMs: 5_000 });
    cleanups.push(() => proxy.close());

    const response = await new Promise<http.IncomingMessage>((resolve, reject) => {
      http.get(proxy.url, { agent: false }, resolve).on('error', reject);
    });
    response.pause(); // read nothing for a while
    response.on('error', () => {});
    await new Promise((resolve) => setTimeout(resolve, 500));
    const whilePaused = written;
    await new Promise((resolve) => setTimeout(resolve, 300));

    // Only the sockets' kernel buffers and the streams' high-water marks fill (a few MB); without
    // backpressure the proxy would read the origin at loopback speed, hundreds of MB in 0.8 s.
    expect(written).toBe(whilePaused);
    expect(written).toBeLessThan(32 * 1024 * 1024);
    let read = 0;
    response.on('data', (data: Buffer) => (read += data.length));
    response.resume();
    await waitFor(() => written > whilePaused && read > whilePaused, 'the relay going on once the client reads');
    response.destroy();
  });

  it('a client that stops reading its response for clientTimeoutMs is disconnected, and so is the origin', async () => {
    const chunk = Buffer.alloc(64 * 1024, 'x');
    const origin = await startOrigin((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      const pump = () => {
        while (res.write(chunk));
      };
      res.on('drain', pump);
      pump();
    });
    cleanups.push(() => origin.close());
    const proxy = await startProxy(origin.url, { clientTimeoutMs: 200, upstreamTimeoutMs: 5_000 });
    cleanups.push(() => proxy.close());

    const response = await new Promise<http.IncomingMessage>((resolve, reject) => {
      http.get(proxy.url, { agent: false }, resolve).on('error', reject);
    });
    response.pause(); // read nothing: the proxy's writes stall
    response.on('error', () => {});

    await waitFor(() => proxy.totals().errors.GOV_ERR_PROXY_CLIENT_TIMEOUT === 1, 'the timeout recorded');
    await waitFor(() => origin.open.size === 0, 'the origin connection closed');
    const closed = new Promise((resolve) => response.socket.once('close', resolve));
    response.resume();
    await closed;
    expect(response.complete).toBe(false);
    expect(proxy.totals().errors.GOV_ERR_PROXY_CLIENT_GONE).toBeUndefined();
  });

  describe('a large cached response (a hit the socket cannot take at once)', () => {
    // More than loopback's kernel buffers (a few MB each way) can hold for a client reading nothing.
    const body = Buffer.alloc(32 * 1024 * 1024, 'z');

    async function proxyWithStoredBody(clientTimeoutMs: number) {
      const origin = await startOrigin((_req, res) => {
        res.writeHead(200, { 'cache-control': 'max-age=600', 'content-length': body.length });
        res.end(body);
      });
      cleanups.push(() => origin.close());
      const cache = { ...defaultConfig().proxy.cache, enabled: true, maxBytes: 64 * 1024 * 1024, maxEntryBytes: 64 * 1024 * 1024 };
      const proxy = await startProxy(origin.url, { clientTimeoutMs, cache });
      cleanups.push(() => proxy.close());
      const first = await request(proxy.url, { path: '/big' });
      expect(first.body.length).toBe(body.length);
      return { origin, proxy };
    }

    function pausedHit(url: string): Promise<http.IncomingMessage> {
      return new Promise((resolve, reject) => {
        http
          .get(`${url}/big`, { agent: false }, (response) => {
            expect(response.headers['x-governor-cache']).toBe('HIT');
            response.pause(); // read nothing: the proxy's writes stall
            response.on('error', () => {});
            resolve(response);
          })
          .on('error', reject);
      });
    }

    it('is cut when the client stops reading it for clientTimeoutMs', async () => {
      const { origin, proxy } = await proxyWithStoredBody(200);

      const response = await pausedHit(proxy.url);

      await waitFor(() => proxy.totals().errors.GOV_ERR_PROXY_CLIENT_TIMEOUT === 1, 'the timeout recorded');
      const closed = new Promise((resolve) => response.socket.once('close', resolve));
      response.resume();
      await closed;
      expect(response.complete).toBe(false);
      expect(origin.received).toHaveLength(1);
      expect(proxy.totals().errors.GOV_ERR_PROXY_CLIENT_GONE).toBeUndefined();
    });

    it('counts a client that leaves in the middle of it as gone, and its status once', async () => {
      const { proxy } = await proxyWithStoredBody(5_000);
      proxy.sample();

      const response = await pausedHit(proxy.url);
      response.socket.destroy();

      await waitFor(() => proxy.totals().errors.GOV_ERR_PROXY_CLIENT_GONE === 1, 'the client counted as gone');
      expect(proxy.sample().status['2xx']).toBe(1);
    });
  });
});
