import { afterEach, describe, expect, it } from 'vitest';
import type { EdgeProxy } from '../../proxy/server.js';
import { createProxy } from '../../proxy/server.js';
import { proxyConfig, rawExchange, request, startOrigin, startProxy, startRawOrigin, type TestOrigin } from './harness.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

async function pair(handler: Parameters<typeof startOrigin>[0], originPath = ''): Promise<{ origin: TestOrigin; proxy: EdgeProxy }> {
  const origin = await startOrigin(handler);
  cleanups.push(() => origin.close());
  const proxy = await startProxy(origin.url + originPath);
  cleanups.push(() => proxy.close());
  return { origin, proxy };
}

describe('forwarding', () => {
  it('forwards method, path, body and end-to-end headers, and adds X-Forwarded-For/-Proto/-Host', async () => {
    const { origin, proxy } = await pair((req, res) => {
      let body = '';
      req.on('data', (chunk) => (body += chunk));
      req.on('end', () => {
        res.writeHead(201, { 'content-type': 'text/plain', 'x-origin': 'yes' });
        res.end(`${req.method} ${req.url} ${body}`);
      });
    }, '/base');

    const reply = await request(proxy.url, {
      method: 'POST',
      path: '/items?q=1',
      headers: { host: 'shop.example', 'content-type': 'text/plain', 'x-forwarded-for': '203.0.113.9' },
      body: 'hello',
    });

    expect(reply.status).toBe(201);
    expect(reply.body).toBe('POST /base/items?q=1 hello');
    expect(reply.headers['x-origin']).toBe('yes');
    const seen = origin.received[0].headers;
    expect(seen['x-forwarded-for']).toBe('203.0.113.9,127.0.0.1');
    expect(seen['x-forwarded-proto']).toBe('http');
    expect(seen['x-forwarded-host']).toBe('shop.example');
    expect(seen.host).toBe(`127.0.0.1:${origin.port}`);
    expect(seen['content-type']).toBe('text/plain');
  });

  it('removes hop-by-hop headers in both directions, including those named by Connection', async () => {
    const { origin, proxy } = await pair((_req, res) => {
      res.writeHead(200, { connection: 'x-hop-response', 'x-hop-response': '1', 'keep-alive': 'timeout=99', 'x-end': 'kept' });
      res.end('ok');
    });

    const reply = await request(proxy.url, {
      headers: {
        connection: 'keep-alive, x-hop-request',
        'x-hop-request': '1',
        'keep-alive': 'timeout=5',
        te: 'trailers',
        'proxy-authorization': 'Basic Zm9vOmJhcg==',
        'x-end': 'kept',
      },
    });

    expect(reply.status).toBe(200);
    const seen = origin.received[0].headers;
    for (const name of ['x-hop-request', 'te', 'proxy-authorization']) expect(seen[name]).toBeUndefined();
    expect(seen['keep-alive']).toBeUndefined();
    expect(seen.connection).toBe('keep-alive'); // the proxy's own connection to the origin
    expect(seen['x-end']).toBe('kept');
    expect(reply.headers['x-hop-response']).toBeUndefined();
    expect(reply.headers['keep-alive']).not.toBe('timeout=99');
    expect(reply.headers['x-end']).toBe('kept');
  });

  it('reuses origin connections (keep-alive agent)', async () => {
    const { origin, proxy } = await pair((_req, res) => res.end('ok'));
    for (let i = 0; i < 5; i++) expect((await request(proxy.url)).status).toBe(200);
    expect(origin.received).toHaveLength(5);
    expect(new Set(origin.received.map((req) => req.socket)).size).toBe(1);
  });

  it('survives a request carrying a Trailer header (http-proxy would throw ERR_HTTP_TRAILER_INVALID)', async () => {
    const { origin, proxy } = await pair((_req, res) => res.end('ok'));

    const response = await rawExchange(proxy.port, 'GET /t HTTP/1.1\r\nHost: x\r\nTrailer: x-checksum\r\nConnection: close\r\n\r\n');

    expect(response).toMatch(/^HTTP\/1\.1 200 OK/);
    expect(response.endsWith('ok')).toBe(true);
    expect(origin.received[0].headers.trailer).toBeUndefined();
    expect((await request(proxy.url)).status).toBe(200);
  });

  it('survives an origin response with Trailer and Content-Length', async () => {
    const origin = await startRawOrigin((socket) => {
      socket.once('data', () => socket.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTrailer: x-b\r\nConnection: close\r\n\r\nok'));
    });
    cleanups.push(() => origin.close());
    const proxy = await startProxy(origin.url);
    cleanups.push(() => proxy.close());

    const reply = await request(proxy.url);

    expect(reply.status).toBe(200);
    expect(reply.body).toBe('ok');
    expect(reply.headers.trailer).toBeUndefined();
  });

  it('sends an HTTP/1.0 client a chunked origin response without chunk framing', async () => {
    const { proxy } = await pair((_req, res) => {
      res.write('part one, ');
      res.end('part two');
    });

    const response = await rawExchange(proxy.port, 'GET / HTTP/1.0\r\nHost: x\r\n\r\n');

    const [head, body] = response.split('\r\n\r\n');
    expect(head).toMatch(/^HTTP\/1\.1 200 OK/);
    expect(head.toLowerCase()).not.toContain('transfer-encoding');
    expect(body).toBe('part one, part two');
  });

  it('answers 100 Continue itself and forwards the body without Expect', async () => {
    const { origin, proxy } = await pair((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => res.end(Buffer.concat(chunks)));
    });

    const response = await rawExchange(
      proxy.port,
      'POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\nConnection: close\r\n\r\nbody',
    );

    expect(response).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 OK/);
    expect(response.endsWith('body')).toBe(true);
    expect(origin.received[0].headers.expect).toBeUndefined();
  });

  it('rejects an origin that is not an http(s) URL with a coded error', async () => {
    await expect(createProxy(proxyConfig('ftp://127.0.0.1:21'))).rejects.toMatchObject({ code: 'GOV_ERR_CONFIG_INVALID' });
    await expect(createProxy(proxyConfig('not a url'))).rejects.toMatchObject({ code: 'GOV_ERR_CONFIG_INVALID' });
  });

  it('tracks readiness', async () => {
    const { proxy } = await pair((_req, res) => res.end('ok'));
    expect(proxy.isReady()).toBe(true);
    proxy.setReady(false);
    expect(proxy.isReady()).toBe(false);
    expect((await request(proxy.url)).status).toBe(200); // readiness is for the load balancer only
  });
});
