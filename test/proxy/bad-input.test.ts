import { readdirSync, readlinkSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultConfig } from '../../governor/config.js';
import type { EdgeProxy, ProxyConfig } from '../../proxy/server.js';
import { rawExchange, request, startOrigin, startProxy, startRawOrigin, waitFor, type TestOrigin } from './harness.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

async function pair(overrides: Partial<ProxyConfig> = {}): Promise<{ origin: TestOrigin; proxy: EdgeProxy }> {
  const origin = await startOrigin((req, res) => {
    req.resume();
    req.on('end', () => res.end('ok'));
  });
  cleanups.push(() => origin.close());
  const proxy = await startProxy(origin.url, overrides);
  cleanups.push(() => proxy.close());
  return { origin, proxy };
}

const limits = (over: Partial<ProxyConfig['limits']>) => ({ ...defaultConfig().proxy.limits, ...over });

/** The status line's code and the x-governor-error header of a raw response. */
function answerOf(raw: string): { status: number; code: string | undefined } {
  return { status: Number(raw.slice(9, 12)), code: /x-governor-error: (\S+)/i.exec(raw)?.[1] };
}

setFlagsFromString('--expose-gc');
/** A full garbage collection, so that heap figures compare what is live. */
const collectGarbage = runInNewContext('gc') as () => void;

/** Open sockets of this process (Linux: the test runs proxy, origin and clients in one process). */
function openSockets(): number {
  return readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`).startsWith('socket:');
    } catch {
      return false;
    }
  }).length;
}

describe('malformed requests and smuggling shapes', () => {
  const cases: Array<[string, number, string, string]> = [
    ['Content-Length with Transfer-Encoding', 400, 'GOV_ERR_PROXY_BAD_REQUEST', 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'],
    ['two Content-Lengths', 400, 'GOV_ERR_PROXY_BAD_REQUEST', 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde'],
    ['a Transfer-Encoding other than chunked', 400, 'GOV_ERR_PROXY_BAD_REQUEST', 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked, identity\r\n\r\n'],
    ['Transfer-Encoding in HTTP/1.0', 400, 'GOV_ERR_PROXY_BAD_REQUEST', 'POST / HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'],
    ['two Hosts', 400, 'GOV_ERR_PROXY_BAD_REQUEST', 'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n'],
    ['no Host in HTTP/1.1', 400, 'GOV_ERR_PROXY_BAD_REQUEST', 'GET / HTTP/1.1\r\n\r\n'],
    ['whitespace before the colon', 400, 'GOV_ERR_PROXY_BAD_REQUEST', 'GET / HTTP/1.1\r\nHost: x\r\nContent-Length : 0\r\n\r\n'],
    ['obs-fold', 400, 'GOV_ERR_PROXY_BAD_REQUEST', 'GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n'],
    ['a malformed request line', 400, 'GOV_ERR_PROXY_BAD_REQUEST', 'GET /a b c HTTP/1.1\r\nHost: x\r\n\r\n'],
    ['a request target that is not a path', 400, 'GOV_ERR_PROXY_BAD_REQUEST', 'GET index.html HTTP/1.1\r\nHost: x\r\n\r\n'],
    ['binary garbage', 400, 'GOV_ERR_PROXY_BAD_REQUEST', '\u0000\u0001\u0002\u0003 garbage\r\n\r\n'],
    ['a URL over maxUrlLength', 414, 'GOV_ERR_PROXY_URL_TOO_LONG', `GET /${'a'.repeat(300)} HTTP/1.1\r\nHost: x\r\n\r\n`],
    ['more headers than maxHeaderCount', 431, 'GOV_ERR_PROXY_HEADERS_TOO_LARGE', `GET / HTTP/1.1\r\nHost: x\r\n${'X-A: 1\r\n'.repeat(20)}\r\n`],
    ['headers over maxHeaderBytes', 431, 'GOV_ERR_PROXY_HEADERS_TOO_LARGE', `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(3000)}\r\n\r\n`],
    ['a declared body over maxBodyBytes', 413, 'GOV_ERR_PROXY_BODY_TOO_LARGE', 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n\r\n'],
    [
      'a chunked body over maxBodyBytes',
      413,
      'GOV_ERR_PROXY_BODY_TOO_LARGE',
      `POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n400\r\n${'c'.repeat(1024)}\r\n400\r\n${'c'.repeat(1024)}\r\n0\r\n\r\n`,
    ],
  ];

  it.each(cases)('%s: %i %s, the connection closed, the origin not reached', async (_name, status, code, bytes) => {
    const { origin, proxy } = await pair({ limits: limits({ maxUrlLength: 256, maxHeaderCount: 10, maxHeaderBytes: 2048, maxBodyBytes: 1024 }) });

    const raw = await rawExchange(proxy.port, bytes);

    expect(answerOf(raw)).toEqual({ status, code });
    expect(raw.toLowerCase()).toContain('connection: close');
    if (!bytes.includes('chunked\r\n\r\n400')) expect(origin.received).toHaveLength(0); // a chunked upload is cut on its way
    expect(proxy.totals().errors[code]).toBe(1);
    expect((await request(proxy.url)).status).toBe(200); // still serving
  });

  it('answers a slowloris client that trickles its headers with 408 at limits.headersTimeoutMs', async () => {
    const { origin, proxy } = await pair({ limits: limits({ headersTimeoutMs: 200 }) });
    const started = Date.now();

    const answer = await new Promise<string>((resolve) => {
      const socket = net.connect(proxy.port, '127.0.0.1', () => socket.write('GET / HTTP/1.1\r\nHost: x\r\n'));
      const trickle = setInterval(() => socket.write('X-Slow: 1\r\n'), 50);
      let text = '';
      socket.on('data', (chunk) => (text += chunk));
      socket.on('close', () => {
        clearInterval(trickle);
        resolve(text);
      });
      socket.on('error', () => {});
    });

    expect(answerOf(answer)).toEqual({ status: 408, code: 'GOV_ERR_PROXY_REQUEST_TIMEOUT' });
    expect(Date.now() - started).toBeLessThan(1_500);
    expect(origin.received).toHaveLength(0);
  });

  it('a client that aborts mid-body frees the origin connection and is counted', async () => {
    const { origin, proxy } = await pair();
    const socket = net.connect(proxy.port, '127.0.0.1', () =>
      socket.write('POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n' + 'p'.repeat(1000)),
    );
    socket.on('error', () => {});

    await waitFor(() => origin.received.length === 1, 'the upload at the origin');
    socket.destroy();

    await waitFor(() => origin.open.size === 0, 'the origin connection closed');
    await waitFor(() => proxy.totals().errors.GOV_ERR_PROXY_CLIENT_GONE === 1, 'the abort counted');
    expect(proxy.sample().inFlight).toBe(0);
  });
});

describe('origins that misbehave', () => {
  it('an origin that answers garbage gets 502 GOV_ERR_PROXY_UPSTREAM_FAILED', async () => {
    const origin = await startRawOrigin((socket) => socket.once('data', () => socket.end('SMTP ready\r\n\r\n')));
    cleanups.push(() => origin.close());
    const proxy = await startProxy(origin.url, { breaker: { ...defaultConfig().proxy.breaker, enabled: false } });
    cleanups.push(() => proxy.close());

    const reply = await request(proxy.url);

    expect(reply.status).toBe(502);
    expect(reply.headers['x-governor-error']).toBe('GOV_ERR_PROXY_UPSTREAM_FAILED');
  });

  it('an origin that declares more body than it sends cuts the response; nothing is stored', async () => {
    const origin = await startRawOrigin((socket) =>
      socket.on('data', () => socket.end('HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nContent-Length: 100\r\n\r\nshort')),
    );
    cleanups.push(() => origin.close());
    const proxy = await startProxy(origin.url, { cache: { ...defaultConfig().proxy.cache, enabled: true } });
    cleanups.push(() => proxy.close());

    await expect(request(proxy.url)).rejects.toThrow();
    await waitFor(() => proxy.totals().errors.GOV_ERR_PROXY_UPSTREAM_RESET === 1, 'the cut recorded');
    expect(proxy.totals().cache?.entries).toBe(0);
  });
});

/** `count` GETs of `paths` in turn, 16 at a time over keep-alive connections; resolves with how many answered 200. */
async function keepAliveLoad(url: string, paths: string[], count: number): Promise<number> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  let next = 0;
  let ok = 0;
  const one = (path: string) =>
    new Promise<void>((resolve, reject) => {
      http
        .get(new URL(path, url), { agent }, (res) => {
          if (res.statusCode === 200) ok++;
          res.resume();
          res.on('end', resolve);
        })
        .on('error', reject);
    });
  const lane = async () => {
    while (next < count) await one(paths[next++ % paths.length]);
  };
  await Promise.all(Array.from({ length: 16 }, lane));
  agent.destroy();
  return ok;
}

describe('bounded resources', () => {
  it('20,000 served requests, cache hits and misses, leave nothing live behind them', async () => {
    const body = 'x'.repeat(1024);
    const origin = await startOrigin((req, res) => {
      res.writeHead(200, { 'cache-control': req.url?.startsWith('/hit') ? 'public, max-age=3600' : 'no-store' });
      res.end(body);
    });
    cleanups.push(() => origin.close());
    const proxy = await startProxy(origin.url, { cache: { ...defaultConfig().proxy.cache, enabled: true } });
    cleanups.push(() => proxy.close());
    const paths = ['/hit', '/miss'];
    expect(await keepAliveLoad(proxy.url, paths, 2_000)).toBe(2_000); // code compiled, pools and the cache filled
    origin.received.length = 0; // the test origin's own record of requests is not the proxy's memory
    collectGarbage();
    const heapBefore = process.memoryUsage().heapUsed;

    expect(await keepAliveLoad(proxy.url, paths, 20_000)).toBe(20_000);

    expect(proxy.totals().cache?.entries).toBe(1);
    origin.received.length = 0;
    collectGarbage();
    // 2 MiB: a leak of 100 bytes per request fails; compiled code and pools' growth fit well under it.
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(2 * 1024 * 1024);
  });

  it('10,000 aborted requests leave no socket open and memory bounded', async () => {
    const { origin, proxy } = await pair({ maxInFlight: 64, maxQueue: 0 });
    await request(proxy.url);
    origin.received.length = 0;
    const socketsBefore = openSockets();
    collectGarbage();
    const heapBefore = process.memoryUsage().heapUsed;
    const started = Date.now();
    const shapes = [
      'GET /a HTTP/1.1\r\nHost: x\r\n', // headers never finished
      'GET /b HTTP/1.1\r\nHost: x\r\n\r\n', // complete, then gone at once
      'POST /c HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\nhalf', // body never finished
    ];

    for (let batch = 0; batch < 50; batch++) {
      await Promise.all(
        Array.from({ length: 200 }, (_, i) => {
          return new Promise<void>((resolve) => {
            const socket = net.connect(proxy.port, '127.0.0.1', () => {
              socket.write(shapes[i % shapes.length]);
              setImmediate(() => socket.end()); // gone mid-request (a FIN: far cheaper on loopback than a reset)
            });
            socket.on('error', () => {});
            socket.on('close', () => resolve());
          });
        }),
      );
    }

    await waitFor(() => openSockets() <= socketsBefore, 'every socket closed', 10_000);
    await waitFor(() => origin.open.size <= 1 && proxy.sample().inFlight === 0, 'origin connections released');
    origin.received.length = 0; // the test origin's own record of requests is not the proxy's memory
    collectGarbage();
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(8 * 1024 * 1024);
    expect(Date.now() - started).toBeLessThan(30_000);
    expect((await request(proxy.url)).status).toBe(200);
  });
});
