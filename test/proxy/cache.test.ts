import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultConfig } from '../../governor/config.js';
import type { EdgeProxy, ProxyConfig } from '../../proxy/server.js';
import { request, startOrigin, startProxy, waitFor, type Reply, type TestOrigin } from './harness.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

type Route = (req: IncomingMessage, res: ServerResponse, seen: number) => void;

/** An origin answering each path with its route; `hits(path)` counts what reached it. */
async function originWith(routes: Record<string, Route>): Promise<TestOrigin & { hits(path: string): number }> {
  const counts = new Map<string, number>();
  const origin = await startOrigin((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const seen = (counts.get(path) ?? 0) + 1;
    counts.set(path, seen);
    const route = routes[path];
    if (route) route(req, res, seen);
    else {
      res.writeHead(404);
      res.end();
    }
  });
  cleanups.push(() => origin.close());
  return Object.assign(origin, { hits: (path: string) => counts.get(path) ?? 0 });
}

function cachingProxy(origin: string, overrides: Partial<ProxyConfig> = {}): Promise<EdgeProxy> {
  return startProxy(origin, { cache: { ...defaultConfig().proxy.cache, enabled: true }, ...overrides }).then((proxy) => {
    cleanups.push(() => proxy.close());
    return proxy;
  });
}

/** A route answering `body` with `headers` (the request count appended to the body). */
function answer(headers: OutgoingHttpHeaders, body = 'body'): Route {
  return (_req, res, seen) => {
    res.writeHead(200, { 'content-type': 'text/plain', ...headers });
    res.end(`${body}-${seen}`);
  };
}

const cacheStatus = (reply: Reply) => reply.headers['x-governor-cache'];
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('cache: what is stored and reused (RFC 9111 via http-cache-semantics)', () => {
  it('serves a fresh response from the store with its Age, without asking the origin', async () => {
    const origin = await originWith({ '/a': answer({ 'cache-control': 'max-age=60', age: '5' }) });
    const proxy = await cachingProxy(origin.url);

    const first = await request(proxy.url, { path: '/a' });
    const second = await request(proxy.url, { path: '/a' });

    expect(first).toMatchObject({ status: 200, body: 'body-1' });
    expect(cacheStatus(first)).toBe('MISS');
    expect(second).toMatchObject({ status: 200, body: 'body-1' });
    expect(cacheStatus(second)).toBe('HIT');
    expect(Number(second.headers.age)).toBeGreaterThanOrEqual(5);
    expect(second.headers['content-length']).toBe('6');
    expect(origin.hits('/a')).toBe(1);
  });

  it('counts an Age beyond max-age as stale, and honours s-maxage over max-age for a shared cache', async () => {
    const origin = await originWith({
      '/old': answer({ 'cache-control': 'max-age=10', age: '20' }),
      '/shared': answer({ 'cache-control': 'max-age=0, s-maxage=60' }),
    });
    const proxy = await cachingProxy(origin.url);

    await request(proxy.url, { path: '/old' });
    expect(await request(proxy.url, { path: '/old' })).toMatchObject({ body: 'body-2' });
    await request(proxy.url, { path: '/shared' });
    expect(cacheStatus(await request(proxy.url, { path: '/shared' }))).toBe('HIT');
    expect(origin.hits('/shared')).toBe(1);
  });

  it('never stores no-store or private responses, nor responses to requests with Authorization unless public', async () => {
    const origin = await originWith({
      '/nostore': answer({ 'cache-control': 'no-store, max-age=60' }),
      '/private': answer({ 'cache-control': 'private, max-age=60' }),
      '/auth': answer({ 'cache-control': 'max-age=60' }),
      '/auth-public': answer({ 'cache-control': 'public, max-age=60' }),
    });
    const proxy = await cachingProxy(origin.url);
    const auth = { authorization: 'Bearer x' };

    for (let i = 0; i < 2; i++) {
      await request(proxy.url, { path: '/nostore' });
      await request(proxy.url, { path: '/private' });
      await request(proxy.url, { path: '/auth', headers: auth });
      await request(proxy.url, { path: '/auth-public', headers: auth });
    }

    expect([origin.hits('/nostore'), origin.hits('/private'), origin.hits('/auth'), origin.hits('/auth-public')]).toEqual([2, 2, 2, 1]);
  });

  it('stores by heuristic freshness when the origin gives only an old Last-Modified', async () => {
    const lastModified = new Date(Date.now() - 10 * 24 * 3600 * 1000).toUTCString();
    const origin = await originWith({ '/h': answer({ 'last-modified': lastModified }) });
    const proxy = await cachingProxy(origin.url);

    await request(proxy.url, { path: '/h' });
    expect(cacheStatus(await request(proxy.url, { path: '/h' }))).toBe('HIT');
    expect(origin.hits('/h')).toBe(1);
  });

  it('keeps one variant per Vary value', async () => {
    const origin = await originWith({
      '/v': (req, res, seen) => {
        res.writeHead(200, { 'cache-control': 'max-age=60', vary: 'accept-language' });
        res.end(`${req.headers['accept-language']}-${seen}`);
      },
    });
    const proxy = await cachingProxy(origin.url);
    const fr = { 'accept-language': 'fr' };
    const de = { 'accept-language': 'de' };

    expect((await request(proxy.url, { path: '/v', headers: fr })).body).toBe('fr-1');
    expect((await request(proxy.url, { path: '/v', headers: de })).body).toBe('de-2');
    expect((await request(proxy.url, { path: '/v', headers: fr })).body).toBe('fr-1');
    expect((await request(proxy.url, { path: '/v', headers: de })).body).toBe('de-2');
    expect(origin.hits('/v')).toBe(2);
  });

  it('stores a Set-Cookie response only when public, and never hands the cookie to other clients', async () => {
    const origin = await originWith({
      '/login': answer({ 'cache-control': 'max-age=60', 'set-cookie': 'session=alice' }),
      '/banner': answer({ 'cache-control': 'public, max-age=60', 'set-cookie': 'seen=1' }),
    });
    const proxy = await cachingProxy(origin.url);

    await request(proxy.url, { path: '/login' });
    const again = await request(proxy.url, { path: '/login' });
    const first = await request(proxy.url, { path: '/banner' });
    const hit = await request(proxy.url, { path: '/banner' });

    expect(origin.hits('/login')).toBe(2);
    expect(again.headers['set-cookie']).toEqual(['session=alice']);
    expect(first.headers['set-cookie']).toEqual(['seen=1']);
    expect(cacheStatus(hit)).toBe('HIT');
    expect(hit.headers['set-cookie']).toBeUndefined();
  });
});

describe('cache: revalidation and stale responses', () => {
  it('revalidates no-cache responses with If-None-Match; a 304 serves the stored body', async () => {
    const seenValidators: Array<string | undefined> = [];
    const origin = await originWith({
      '/e': (req, res, seen) => {
        seenValidators.push(req.headers['if-none-match']);
        if (req.headers['if-none-match'] === '"v1"') {
          res.writeHead(304, { etag: '"v1"', 'cache-control': 'no-cache' });
          res.end();
          return;
        }
        res.writeHead(200, { etag: '"v1"', 'cache-control': 'no-cache' });
        res.end(`e-${seen}`);
      },
    });
    const proxy = await cachingProxy(origin.url);

    await request(proxy.url, { path: '/e' });
    const revalidated = await request(proxy.url, { path: '/e', headers: { 'if-none-match': '"client-own"' } });

    expect(revalidated).toMatchObject({ status: 200, body: 'e-1' });
    expect(cacheStatus(revalidated)).toBe('REVALIDATED');
    expect(seenValidators).toEqual([undefined, '"v1"']);
    expect(proxy.totals().cache?.revalidated).toBe(1);
  });

  it('revalidates with If-Modified-Since when there is only Last-Modified', async () => {
    const modified = new Date(Date.now() - 60_000).toUTCString();
    const origin = await originWith({
      '/lm': (req, res, seen) => {
        if (req.headers['if-modified-since'] === modified) {
          res.writeHead(304, { 'last-modified': modified });
          res.end();
          return;
        }
        res.writeHead(200, { 'last-modified': modified, 'cache-control': 'max-age=0' });
        res.end(`lm-${seen}`);
      },
    });
    const proxy = await cachingProxy(origin.url);

    await request(proxy.url, { path: '/lm' });
    const second = await request(proxy.url, { path: '/lm' });

    expect(second).toMatchObject({ status: 200, body: 'lm-1' });
    expect(cacheStatus(second)).toBe('REVALIDATED');
  });

  it('answers a client conditional request from the store with 304', async () => {
    const origin = await originWith({ '/c': answer({ 'cache-control': 'max-age=60', etag: '"abc"' }) });
    const proxy = await cachingProxy(origin.url);

    await request(proxy.url, { path: '/c' });
    const reply = await request(proxy.url, { path: '/c', headers: { 'if-none-match': 'W/"abc"' } });

    expect(reply.status).toBe(304);
    expect(reply.headers.etag).toBe('"abc"');
    expect(origin.hits('/c')).toBe(1);
  });

  it('stale-while-revalidate: serves the stale copy at once and refreshes it in the background', async () => {
    const origin = await originWith({ '/swr': answer({ 'cache-control': 'max-age=1, stale-while-revalidate=60', age: '2' }) });
    const proxy = await cachingProxy(origin.url);

    await request(proxy.url, { path: '/swr' });
    const stale = await request(proxy.url, { path: '/swr' });
    await waitFor(() => origin.hits('/swr') === 2, 'the background revalidation');
    await waitFor(() => proxy.totals().cache?.stored === 2, 'the refreshed copy stored');

    expect(stale).toMatchObject({ status: 200, body: 'body-1' });
    expect(cacheStatus(stale)).toBe('STALE');
  });

  it('stale-if-error: serves the stale copy when the origin fails, within the allowance', async () => {
    const origin = await originWith({
      '/sie': (_req, res, seen) => {
        if (seen > 1) {
          res.writeHead(503);
          res.end('down');
          return;
        }
        res.writeHead(200, { 'cache-control': 'max-age=1, stale-if-error=60', age: '2' });
        res.end('sie-1');
      },
      '/plain': (_req, res, seen) => {
        res.writeHead(seen > 1 ? 503 : 200, { 'cache-control': 'max-age=1', age: '2' });
        res.end(`plain-${seen}`);
      },
    });
    const proxy = await cachingProxy(origin.url);

    await request(proxy.url, { path: '/sie' });
    const stale = await request(proxy.url, { path: '/sie' });
    await request(proxy.url, { path: '/plain' });
    const failed = await request(proxy.url, { path: '/plain' });

    expect(stale).toMatchObject({ status: 200, body: 'sie-1' });
    expect(cacheStatus(stale)).toBe('STALE');
    expect(failed.status).toBe(503);
  });

  it('an unsafe method that succeeds invalidates the URL and its Location', async () => {
    const origin = await originWith({
      '/doc': answer({ 'cache-control': 'max-age=60' }),
      '/other': answer({ 'cache-control': 'max-age=60' }),
      '/form': (_req, res) => {
        res.writeHead(201, { location: '/other' });
        res.end();
      },
    });
    const proxy = await cachingProxy(origin.url);

    await request(proxy.url, { path: '/doc' });
    await request(proxy.url, { path: '/other' });
    await request(proxy.url, { path: '/doc', method: 'DELETE' });
    await request(proxy.url, { path: '/form', method: 'POST', body: 'x' });
    await request(proxy.url, { path: '/doc' });
    await request(proxy.url, { path: '/other' });

    expect(origin.hits('/doc')).toBe(3); // GET, DELETE, GET again
    expect(origin.hits('/other')).toBe(2);
  });
});

describe('cache: coalescing, ranges, HEAD and large bodies', () => {
  it('makes one origin request for 20 concurrent misses of one URL', async () => {
    const origin = await originWith({
      '/hot': (_req, res) => setTimeout(() => answer({ 'cache-control': 'max-age=60' }, 'hot')(_req, res, 1), 100),
    });
    const proxy = await cachingProxy(origin.url);

    const replies = await Promise.all(Array.from({ length: 20 }, () => request(proxy.url, { path: '/hot' })));

    expect(origin.hits('/hot')).toBe(1);
    expect(new Set(replies.map((reply) => `${reply.status} ${reply.body}`))).toEqual(new Set(['200 hot-1']));
  });

  it('does not hold concurrent requests back behind a URL whose responses cannot be stored', async () => {
    const origin = await originWith({ '/live': (_req, res, seen) => setTimeout(() => answer({ 'cache-control': 'no-store' })(_req, res, seen), 50) });
    const proxy = await cachingProxy(origin.url);

    await request(proxy.url, { path: '/live' }); // learns that /live is not storable
    const started = Date.now();
    const replies = await Promise.all(Array.from({ length: 10 }, () => request(proxy.url, { path: '/live' })));

    expect(origin.hits('/live')).toBe(11);
    expect(replies.every((reply) => reply.status === 200 && cacheStatus(reply) === 'PASS')).toBe(true);
    expect(Date.now() - started).toBeLessThan(400); // in parallel, not one after another
  });

  it('serves single byte ranges of a stored response, and 416 beyond its end', async () => {
    const origin = await originWith({ '/r': answer({ 'cache-control': 'max-age=60', etag: '"r1"' }, '0123456789') });
    const proxy = await cachingProxy(origin.url);

    await request(proxy.url, { path: '/r' }); // body "0123456789-1"
    const head = await request(proxy.url, { path: '/r', headers: { range: 'bytes=0-3' } });
    const tail = await request(proxy.url, { path: '/r', headers: { range: 'bytes=-2' } });
    const beyond = await request(proxy.url, { path: '/r', headers: { range: 'bytes=100-' } });
    const stale = await request(proxy.url, { path: '/r', headers: { range: 'bytes=0-3', 'if-range': '"other"' } });

    expect(head).toMatchObject({ status: 206, body: '0123' });
    expect(head.headers['content-range']).toBe('bytes 0-3/12');
    expect(tail).toMatchObject({ status: 206, body: '-1' });
    expect(beyond.status).toBe(416);
    expect(beyond.headers['content-range']).toBe('bytes */12');
    expect(stale).toMatchObject({ status: 200, body: '0123456789-1' });
    expect(origin.hits('/r')).toBe(1);
  });

  it('passes a Range request it has no copy for to the origin unchanged, and stores nothing', async () => {
    const ranges: Array<string | undefined> = [];
    const origin = await originWith({
      '/pr': (req, res) => {
        ranges.push(req.headers.range);
        res.writeHead(206, { 'content-range': 'bytes 0-1/10', 'cache-control': 'max-age=60' });
        res.end('01');
      },
    });
    const proxy = await cachingProxy(origin.url);

    const reply = await request(proxy.url, { path: '/pr', headers: { range: 'bytes=0-1' } });
    await request(proxy.url, { path: '/pr', headers: { range: 'bytes=0-1' } });

    expect(reply).toMatchObject({ status: 206, body: '01' });
    expect(ranges).toEqual(['bytes=0-1', 'bytes=0-1']);
  });

  it('answers HEAD from a stored GET response, and passes an uncached HEAD through', async () => {
    const methods: string[] = [];
    const origin = await originWith({
      '/head': (req, res, seen) => {
        methods.push(req.method ?? '');
        answer({ 'cache-control': 'max-age=60' })(req, res, seen);
      },
    });
    const proxy = await cachingProxy(origin.url);

    const uncached = await request(proxy.url, { path: '/head', method: 'HEAD' });
    await request(proxy.url, { path: '/head' });
    const cached = await request(proxy.url, { path: '/head', method: 'HEAD' });

    expect(uncached).toMatchObject({ status: 200, body: '' });
    expect(cached).toMatchObject({ status: 200, body: '' });
    expect(cacheStatus(cached)).toBe('HIT');
    expect(cached.headers['content-length']).toBe('6');
    expect(methods).toEqual(['HEAD', 'GET']);
  });

  it('a HEAD meeting a stale-while-revalidate copy gets it without a body; the GET that revalidates it is stored', async () => {
    const methods: string[] = [];
    const origin = await originWith({
      '/swr-head': (req, res, seen) => {
        methods.push(req.method ?? '');
        // The first copy arrives already stale; the revalidated one is fresh for 60 s.
        const cacheControl = seen === 1 ? { 'cache-control': 'max-age=1, stale-while-revalidate=60', age: '2' } : { 'cache-control': 'max-age=60' };
        answer(cacheControl)(req, res, seen);
      },
    });
    const proxy = await cachingProxy(origin.url);

    await request(proxy.url, { path: '/swr-head' });
    const stale = await request(proxy.url, { path: '/swr-head', method: 'HEAD' });
    await waitFor(() => methods.length === 2, 'the background revalidation');
    await waitFor(() => proxy.totals().cache?.stored === 2, 'the revalidated copy stored');
    const after = await request(proxy.url, { path: '/swr-head', method: 'HEAD' });

    expect(stale).toMatchObject({ status: 200, body: '' });
    expect(cacheStatus(stale)).toBe('STALE');
    expect(methods).toEqual(['GET', 'GET']); // the HEAD's method was lent as GET to the forwarder only
    expect(after).toMatchObject({ status: 200, body: '' });
    expect(cacheStatus(after)).toBe('HIT');
  });

  it('streams a body larger than maxEntryBytes whole to the client and does not store it', async () => {
    const big = 'x'.repeat(64 * 1024);
    const origin = await originWith({
      '/big': (_req, res) => {
        res.writeHead(200, { 'cache-control': 'max-age=60' }); // chunked: the size is learnt while streaming
        res.write(big);
        res.end(big);
      },
      '/declared': (_req, res) => {
        res.writeHead(200, { 'cache-control': 'max-age=60', 'content-length': big.length });
        res.end(big);
      },
    });
    const proxy = await cachingProxy(origin.url, { cache: { enabled: true, maxBytes: 1024 * 1024, maxEntryBytes: 16 * 1024 } });

    for (let i = 0; i < 2; i++) {
      expect((await request(proxy.url, { path: '/big' })).body).toHaveLength(2 * big.length);
      expect((await request(proxy.url, { path: '/declared' })).body).toHaveLength(big.length);
    }

    expect([origin.hits('/big'), origin.hits('/declared')]).toEqual([2, 2]);
    expect(proxy.totals().cache?.entries).toBe(0);
  });

  it('evicts least recently used entries to stay within maxBytes, and counts them', async () => {
    const origin = await originWith({ '/lru': answer({ 'cache-control': 'max-age=60' }, 'y'.repeat(4000)) });
    const proxy = await cachingProxy(origin.url, { cache: { enabled: true, maxBytes: 10_000, maxEntryBytes: 8_000 } });

    for (let i = 0; i < 5; i++) await request(proxy.url, { path: `/lru?i=${i}` });

    const cache = proxy.totals().cache;
    expect(cache?.evictions).toBeGreaterThanOrEqual(3);
    expect(cache?.bytes).toBeLessThanOrEqual(10_000);
    expect(cacheStatus(await request(proxy.url, { path: '/lru?i=4' }))).toBe('HIT');
  });
});

describe('cache: purge and statistics', () => {
  it('purges one URL, a prefix, or everything', async () => {
    const origin = await originWith({
      '/img/a': answer({ 'cache-control': 'max-age=60' }),
      '/img/b': answer({ 'cache-control': 'max-age=60' }),
      '/page': answer({ 'cache-control': 'max-age=60' }),
    });
    const proxy = await cachingProxy(origin.url);
    const load = () => Promise.all(['/img/a', '/img/b', '/page'].map((path) => request(proxy.url, { path })));
    await load();

    expect(await proxy.purge({ url: '/page' })).toEqual({ purged: 1 });
    expect(await proxy.purge({ prefix: '/img/' })).toEqual({ purged: 2 });
    await load();
    expect(await proxy.purge({ all: true })).toEqual({ purged: 3 });
    expect([origin.hits('/img/a'), origin.hits('/page')]).toEqual([2, 2]);
    await expect(proxy.purge({ prefix: 'img' } as never)).rejects.toMatchObject({ code: 'GOV_ERR_PROXY_BAD_REQUEST' });
    await expect(proxy.purge({ url: '/a', all: true } as never)).rejects.toMatchObject({ code: 'GOV_ERR_PROXY_BAD_REQUEST' });
  });

  it('reports hits, misses, stores, bytes and entries per interval and in totals', async () => {
    const origin = await originWith({ '/s': answer({ 'cache-control': 'max-age=60' }) });
    const proxy = await cachingProxy(origin.url);
    proxy.sample();

    for (let i = 0; i < 4; i++) await request(proxy.url, { path: '/s' });

    const sample = proxy.sample();
    expect(sample.cache).toMatchObject({ hits: 3, misses: 1, stored: 1, entries: 1 });
    expect(sample.cache?.bytes).toBeGreaterThan(6);
    expect(proxy.sample().cache).toMatchObject({ hits: 0, misses: 0, entries: 1 });
    expect(proxy.totals().cache).toMatchObject({ hits: 3, misses: 1 });
  });

  it('expires a fresh copy after max-age', async () => {
    const origin = await originWith({ '/short': answer({ 'cache-control': 'max-age=1' }) });
    const proxy = await cachingProxy(origin.url);

    await request(proxy.url, { path: '/short' });
    expect(cacheStatus(await request(proxy.url, { path: '/short' }))).toBe('HIT');
    await sleep(1_100);
    expect((await request(proxy.url, { path: '/short' })).body).toBe('body-2');
  });
});
