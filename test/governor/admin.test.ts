import { connect } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  MAX_JOURNAL_LIMIT,
  readJsonBody,
  sendJson,
  startAdminServer,
  type AdminRoute,
  type AdminServer,
  type AdminServerOptions,
} from '../../governor/admin.js';
import { Blackboard } from '../../governor/blackboard.js';
import { RealClock } from '../../governor/clock.js';
import { GovError } from '../../governor/errors.js';
import { Journal } from '../../governor/journal.js';

interface Fixture {
  server: AdminServer;
  blackboard: Blackboard;
  journal: Journal;
  ready: { value: boolean };
}

const servers: AdminServer[] = [];

async function start(extra: Partial<AdminServerOptions> = {}): Promise<Fixture> {
  const clock = new RealClock();
  const blackboard = new Blackboard(clock);
  const journal = new Journal({ clock, blackboard });
  const ready = { value: true };
  const server = await startAdminServer({
    host: '127.0.0.1',
    port: 0,
    blackboard,
    journal,
    isReady: () => ready.value,
    meta: () => ({ instance: 'i-test', version: '0.1.0' }),
    ...extra,
  });
  servers.push(server);
  return { server, blackboard, journal, ready };
}

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function getJson(url: string, init?: RequestInit): Promise<{ status: number; headers: Headers; body: unknown }> {
  const res = await fetch(url, init);
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
}

/**
 * Writes `chunks` to a raw connection (half-closing it after when `end`), and resolves with
 * everything the server sent once it closes the connection; rejects if it has not within `waitMs`.
 */
function exchange(port: number, chunks: (string | Buffer)[], opts: { end?: boolean; waitMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const received: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`server kept the connection open > ${opts.waitMs ?? 3000} ms; got: ${Buffer.concat(received).toString('latin1')}`));
    }, opts.waitMs ?? 3000);
    socket.on('data', (d) => received.push(d));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(received).toString('latin1'));
    });
    socket.on('connect', () => {
      for (const c of chunks) socket.write(c);
      if (opts.end) socket.end();
    });
  });
}

function errorBodyOf(raw: string): { error: { code: string; message: string } } {
  return JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4));
}

describe('built-in routes', () => {
  let f: Fixture;
  beforeEach(async () => {
    f = await start();
  });

  it('binds 127.0.0.1 on a free port by default', async () => {
    const { server } = await start({ host: undefined, port: undefined });
    expect(server.url).toBe(`http://127.0.0.1:${server.port}`);
    expect(server.port).toBeGreaterThan(0);
  });

  it('GET /healthz answers ok as uncached JSON', async () => {
    const res = await getJson(`${f.server.url}/healthz`);
    expect(res).toMatchObject({ status: 200, body: { ok: true } });
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(res.headers.get('cache-control')).toBe('no-store');
  });

  it('GET /readyz follows isReady', async () => {
    expect(await getJson(`${f.server.url}/readyz`)).toMatchObject({ status: 200, body: { ready: true } });
    f.ready.value = false;
    expect(await getJson(`${f.server.url}/readyz`)).toMatchObject({ status: 503, body: { ready: false } });
  });

  it('GET /state returns meta and the blackboard snapshot', async () => {
    f.blackboard.set('fleet.size', 3);
    f.blackboard.set('odd', { n: Infinity, big: 10n });
    f.blackboard.series('signals.busy').push(0.25);
    const res = await getJson(`${f.server.url}/state`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      meta: { instance: 'i-test', version: '0.1.0' },
      values: { 'fleet.size': 3, odd: { n: null, big: '10' } },
      series: { 'signals.busy': { last: 0.25, samples: 1 } },
    });
  });

  it('GET /journal filters by since, kind, name and limit', async () => {
    f.journal.record({ kind: 'intent', name: 'scale-up', reason: 'busy' });
    f.journal.record({ kind: 'suppressed', name: 'scale-up', reason: 'cooldown' });
    f.journal.record({ kind: 'action', name: 'launch', reason: 'launched 1', data: { n: 1 } });
    f.journal.record({ kind: 'suppressed', name: 'scale-down', reason: 'last instance' });
    const seqs = async (query: string) =>
      ((await getJson(`${f.server.url}/journal${query}`)).body as { entries: { seq: number }[] }).entries.map((e) => e.seq);
    expect(await seqs('')).toEqual([1, 2, 3, 4]);
    expect(await seqs('?since=2')).toEqual([3, 4]);
    expect(await seqs('?kind=suppressed')).toEqual([2, 4]);
    expect(await seqs('?name=scale-up')).toEqual([1, 2]);
    expect(await seqs('?limit=1')).toEqual([4]);
    expect(await seqs('?kind=suppressed&name=scale-up&since=1&limit=5')).toEqual([2]);
  });

  it.each([
    ['since=-1', 'since'],
    ['since=abc', 'since'],
    ['since=', 'since'],
    ['limit=0', 'limit'],
    [`limit=${MAX_JOURNAL_LIMIT + 1}`, 'limit'],
    ['limit=1.5', 'limit'],
    ['kind=bogus', 'kind'],
    ['name=', 'name'],
    ['sinse=1', 'sinse'],
    ['since=1&since=2', 'since'],
  ])('GET /journal?%s is a 400 naming %s', async (query, param) => {
    const res = await getJson(`${f.server.url}/journal?${query}`);
    expect(res.status).toBe(400);
    const { error } = res.body as { error: { code: string; message: string } };
    expect(error.code).toBe('GOV_ERR_ADMIN_BAD_REQUEST');
    expect(error.message).toContain(param);
  });

  it('an unknown path is a 404', async () => {
    const res = await getJson(`${f.server.url}/nope`);
    expect(res).toEqual({
      status: 404,
      headers: res.headers,
      body: { error: { code: 'GOV_ERR_ADMIN_NOT_FOUND', message: 'no route for /nope' } },
    });
  });

  it('a wrong method is a 405 with Allow', async () => {
    const res = await getJson(`${f.server.url}/healthz`, { method: 'DELETE' });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('GET, HEAD');
    expect((res.body as { error: { code: string } }).error.code).toBe('GOV_ERR_ADMIN_METHOD');
  });

  it('HEAD is answered like GET, without a body', async () => {
    const get = await fetch(`${f.server.url}/healthz`);
    const getLength = (await get.text()).length;
    const head = await fetch(`${f.server.url}/healthz`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(getLength));
    expect(await head.text()).toBe('');
    f.ready.value = false;
    expect((await fetch(`${f.server.url}/readyz`, { method: 'HEAD' })).status).toBe(503);
  });

  it('an oversized declared body is a 413 before any route runs', async () => {
    const res = await getJson(`${f.server.url}/healthz`, { method: 'POST', body: 'x'.repeat(64 * 1024 + 1) });
    expect(res.status).toBe(413);
    expect((res.body as { error: { code: string } }).error.code).toBe('GOV_ERR_ADMIN_BODY_TOO_LARGE');
  });

  it('close() returns promptly with an idle keep-alive connection open, and twice is fine', async () => {
    const { server } = await start();
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    await server.close();
    await server.close();
    await expect(fetch(`${server.url}/healthz`)).rejects.toThrow();
  });
});

describe('added routes', () => {
  const echo: AdminRoute = {
    method: 'POST',
    path: '/echo',
    handler: async (req, res) => sendJson(res, 200, { got: await readJsonBody(req, 1024) }),
  };
  const failing: AdminRoute[] = [
    {
      method: 'GET',
      path: '/throws',
      handler: () => {
        throw new Error('boom');
      },
    },
    { method: 'GET', path: '/rejects', handler: async () => Promise.reject(new Error('async boom')) },
    { method: 'GET', path: '/silent', handler: () => undefined },
    {
      method: 'GET',
      path: '/bad-input',
      handler: () => {
        throw new GovError('GOV_ERR_ADMIN_BAD_REQUEST', 'id must be i-...');
      },
    },
    {
      method: 'GET',
      path: '/cloud-down',
      handler: () => {
        throw new GovError('GOV_ERR_CLOUD_UNAVAILABLE', 'ec2 said 503');
      },
    },
  ];
  let f: Fixture;
  beforeEach(async () => {
    f = await start({ routes: [echo, ...failing] });
  });

  it('serve their method and share a path table with Allow', async () => {
    expect(await getJson(`${f.server.url}/echo`, { method: 'POST', body: '{"a":[1]}' })).toMatchObject({
      status: 200,
      body: { got: { a: [1] } },
    });
    const wrong = await fetch(`${f.server.url}/echo`);
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('POST');
  });

  it('reject a body that is not JSON with 400', async () => {
    const res = await getJson(`${f.server.url}/echo`, { method: 'POST', body: '{nope' });
    expect(res.status).toBe(400);
    expect((res.body as { error: { message: string } }).error.message).toContain('not valid JSON');
  });

  it('bound a streamed (chunked) body with 413', async () => {
    const raw = await exchange(f.server.port, [
      'POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n',
      `800\r\n${'y'.repeat(0x800)}\r\n`,
    ]);
    expect(raw).toMatch(/^HTTP\/1\.1 413 /);
    expect(errorBodyOf(raw).error.code).toBe('GOV_ERR_ADMIN_BODY_TOO_LARGE');
  });

  it.each(['/throws', '/rejects', '/silent'])('%s gives 500 and the server lives on', async (path) => {
    const res = await getJson(`${f.server.url}${path}`);
    expect(res.status).toBe(500);
    expect((res.body as { error: { code: string } }).error.code).toBe('GOV_ERR_ADMIN_INTERNAL');
    expect((await getJson(`${f.server.url}/healthz`)).status).toBe(200);
  });

  it('a thrown admin GovError keeps its status and code', async () => {
    expect(await getJson(`${f.server.url}/bad-input`)).toMatchObject({
      status: 400,
      body: { error: { code: 'GOV_ERR_ADMIN_BAD_REQUEST', message: 'id must be i-...' } },
    });
  });

  it('another GovError is a 500 carrying its own code', async () => {
    expect(await getJson(`${f.server.url}/cloud-down`)).toMatchObject({
      status: 500,
      body: { error: { code: 'GOV_ERR_CLOUD_UNAVAILABLE', message: 'GET /cloud-down failed: ec2 said 503' } },
    });
  });

  it('a route defined twice is refused at start', async () => {
    await expect(start({ routes: [{ method: 'get', path: '/healthz', handler: () => undefined }] })).rejects.toThrow(
      'admin route GET /healthz is defined twice',
    );
  });
});

describe('robustness over raw sockets', () => {
  it('rejects malformed input cleanly and keeps serving', async () => {
    const { server } = await start({ limits: { headersTimeoutMs: 400, requestTimeoutMs: 800 } });
    const { port } = server;
    const garbage = Buffer.from(Array.from({ length: 512 }, (_, i) => (i * 131 + 7) % 256));

    const expectStatus = (raw: string, status: number, code: string) => {
      expect(raw.startsWith(`HTTP/1.1 ${status} `), raw.slice(0, 80)).toBe(true);
      expect(errorBodyOf(raw).error.code).toBe(code);
    };

    expectStatus(await exchange(port, [garbage]), 400, 'GOV_ERR_ADMIN_BAD_REQUEST');
    expectStatus(await exchange(port, ['GET\r\n\r\n']), 400, 'GOV_ERR_ADMIN_BAD_REQUEST');
    expectStatus(await exchange(port, ['GET /healthz HTTP/1.1 trailing\r\nHost: x\r\n\r\n']), 400, 'GOV_ERR_ADMIN_BAD_REQUEST');
    expectStatus(await exchange(port, ['GET /healthz HTTP/1.1\r\nHo\0st: x\r\n\r\n']), 400, 'GOV_ERR_ADMIN_BAD_REQUEST');
    expectStatus(
      await exchange(port, ['POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n']),
      400,
      'GOV_ERR_ADMIN_BAD_REQUEST',
    );
    expectStatus(
      await exchange(port, [`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(32 * 1024)}\r\n\r\n`]),
      431,
      'GOV_ERR_ADMIN_HEADERS_TOO_LARGE',
    );
    // Headers that never finish (slowloris) are cut off by the headers timeout.
    expectStatus(await exchange(port, ['GET /healthz HTTP/1.1\r\nHost: x\r\n']), 408, 'GOV_ERR_ADMIN_TIMEOUT');

    // A complete request, then a half-close: the answer still arrives.
    const halfClosed = await exchange(port, ['GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'], { end: true });
    expect(halfClosed).toMatch(/^HTTP\/1\.1 200 /);
    expect(halfClosed).toContain('{"ok":true}');
    // Half-closed in the middle of the headers: the connection is closed without an answer to a request.
    expect(await exchange(port, ['GET /healthz HTTP/1.1\r\nHo'], { end: true })).not.toMatch(/^HTTP\/1\.1 200/);
    // Pipelined requests are answered in order.
    const pipelined = await exchange(port, ['GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n']);
    expect(pipelined.match(/HTTP\/1\.1 \d{3}/g)).toEqual(['HTTP/1.1 200', 'HTTP/1.1 404']);

    // Abrupt resets and a burst of garbage connections at once.
    for (let i = 0; i < 5; i++) {
      const s = connect(port, '127.0.0.1', () => {
        s.write('GET /state HTTP/1.1\r\nHost');
        s.resetAndDestroy();
      });
      s.on('error', () => undefined);
    }
    const burst = await Promise.all(Array.from({ length: 20 }, (_, i) => exchange(port, [garbage.subarray(i)], { end: true })));
    for (const raw of burst) expect(raw).not.toMatch(/^HTTP\/1\.1 2/);

    expect(await getJson(`${server.url}/healthz`)).toMatchObject({ status: 200, body: { ok: true } });
  });
});
