import { afterEach, describe, expect, it } from 'vitest';
import { startAdminServer, type AdminServer } from '../../governor/admin.js';
import { NonceStore, signRequest } from '../../governor/admin-auth.js';
import { Blackboard } from '../../governor/blackboard.js';
import { RealClock } from '../../governor/clock.js';
import { Journal } from '../../governor/journal.js';
import { defaultConfig } from '../../governor/config.js';
import { cachePurgeRoute, CACHE_PURGE_PATH } from '../../proxy/admin-routes.js';
import type { CachePurge } from '../../proxy/types.js';
import { request, startOrigin, startProxy } from './harness.js';

const SECRET = Buffer.from('a-test-secret-of-enough-length');
const servers: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

async function adminWithPurge(): Promise<{ url: string; purged: CachePurge[] }> {
  const clock = new RealClock();
  const blackboard = new Blackboard(clock);
  const purged: CachePurge[] = [];
  const proxy = {
    purge: async (what: CachePurge) => {
      purged.push(what);
      return { purged: 3 };
    },
  };
  const route = cachePurgeRoute(proxy, { secret: SECRET, clock, nonceStore: new NonceStore(300_000) });
  const server: AdminServer = await startAdminServer({ blackboard, journal: new Journal({ clock, blackboard }), isReady: () => true, routes: [route] });
  servers.push(server);
  return { url: server.url, purged };
}

function signedPost(url: string, body: string) {
  const headers = signRequest({ secret: SECRET, method: 'POST', path: CACHE_PURGE_PATH, body });
  return request(url, { method: 'POST', path: CACHE_PURGE_PATH, body, headers: { ...headers, 'content-type': 'application/json' } });
}

describe('POST /cache/purge', () => {
  it('purges what a signed request selects and answers how many entries went', async () => {
    const { url, purged } = await adminWithPurge();

    const reply = await signedPost(url, JSON.stringify({ prefix: 'http://www.example.com/img/?x' }));

    expect(reply.status).toBe(200);
    expect(JSON.parse(reply.body)).toEqual({ purged: 3 });
    expect(purged).toEqual([{ prefix: '/img/?x' }]);
  });

  it('refuses an unsigned request (401) and a malformed selector (400), purging nothing', async () => {
    const { url, purged } = await adminWithPurge();

    const unsigned = await request(url, { method: 'POST', path: CACHE_PURGE_PATH, body: '{"all":true}' });
    const malformed = await signedPost(url, JSON.stringify({ url: 'no-slash' }));
    const notJson = await signedPost(url, 'purge everything');

    expect(unsigned.status).toBe(401);
    expect(JSON.parse(unsigned.body).error.code).toBe('GOV_ERR_ADMIN_UNSIGNED');
    expect(malformed.status).toBe(400);
    expect(JSON.parse(malformed.body).error).toMatchObject({ code: 'GOV_ERR_ADMIN_BAD_REQUEST', message: expect.stringContaining('expected a path') });
    expect(notJson.status).toBe(400);
    expect(purged).toEqual([]);
  });

  it('purges a real proxy cache: an unsigned or replayed request leaves the entry, a signed one removes it', async () => {
    const origin = await startOrigin((_req, res) => {
      res.writeHead(200, { 'cache-control': 'max-age=60' });
      res.end('page');
    });
    servers.push(origin);
    const proxy = await startProxy(origin.url, { cache: { ...defaultConfig().proxy.cache, enabled: true } });
    servers.push(proxy);
    const clock = new RealClock();
    const blackboard = new Blackboard(clock);
    const route = cachePurgeRoute(proxy, { secret: SECRET, clock, maxSkewMs: 60_000, nonceStore: new NonceStore(60_000), blackboard });
    const admin = await startAdminServer({ blackboard, journal: new Journal({ clock, blackboard }), isReady: () => true, routes: [route] });
    servers.push(admin);
    const cacheOf = async () => (await request(proxy.url, { path: '/page' })).headers['x-governor-cache'];
    const body = JSON.stringify({ url: '/page' });
    const signed = { ...signRequest({ secret: SECRET, method: 'POST', path: CACHE_PURGE_PATH, body }), 'content-type': 'application/json' };

    expect(await cacheOf()).toBe('MISS');
    expect(await cacheOf()).toBe('HIT');
    expect((await request(admin.url, { method: 'POST', path: CACHE_PURGE_PATH, body })).status).toBe(401);
    expect(await cacheOf()).toBe('HIT');
    const purged = await request(admin.url, { method: 'POST', path: CACHE_PURGE_PATH, body, headers: signed });
    expect(purged.status).toBe(200);
    expect(JSON.parse(purged.body)).toEqual({ purged: 1 });
    expect(await cacheOf()).toBe('MISS');
    const replayed = await request(admin.url, { method: 'POST', path: CACHE_PURGE_PATH, body, headers: signed });
    expect(replayed.status).toBe(409);
    expect(JSON.parse(replayed.body).error.code).toBe('GOV_ERR_ADMIN_REPLAY');
    expect(await cacheOf()).toBe('HIT');
  });
});
