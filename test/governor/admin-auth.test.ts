import { createHash, createHmac } from 'node:crypto';
import { connect } from 'node:net';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sendJson, startAdminServer, type AdminServer } from '../../governor/admin.js';
import {
  ADMIN_REJECTED_KEY,
  ADMIN_SECRET_ENV,
  DEFAULT_MAX_SKEW_MS,
  NonceStore,
  SIGNATURE_HEADERS,
  loadAdminSecret,
  parseJsonBody,
  signRequest,
  signedRoute,
  verifySignedRequest,
} from '../../governor/admin-auth.js';
import { Blackboard } from '../../governor/blackboard.js';
import { RealClock, type Clock } from '../../governor/clock.js';
import { isGovError } from '../../governor/errors.js';
import { Journal } from '../../governor/journal.js';

const SECRET = Buffer.from('a-shared-secret-of-enough-length-0123456789');
const SKEW = DEFAULT_MAX_SKEW_MS;
const PATH = '/test/increment';
const MAX_BODY = 1024;

/** Real timers, but a `now` the test sets (the skew window is tested without waiting). */
function settableClock(start: number): Clock & { nowMs: number } {
  const clock = Object.assign(new RealClock(), { nowMs: start });
  clock.now = () => clock.nowMs;
  return clock;
}

interface Fixture {
  server: AdminServer;
  clock: Clock & { nowMs: number };
  blackboard: Blackboard;
  /** The state the demo route changes. */
  counter: { value: number };
  nonceStore: NonceStore;
}

const servers: AdminServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function start(opts: { secret?: Buffer | null; maxNonces?: number } = {}): Promise<Fixture> {
  const clock = settableClock(Date.UTC(2026, 0, 1));
  const blackboard = new Blackboard(clock);
  const journal = new Journal({ clock, blackboard });
  const counter = { value: 0 };
  const nonceStore = new NonceStore(SKEW, opts.maxNonces);
  const increment = signedRoute(
    {
      method: 'POST',
      path: PATH,
      handler: (_req, res, _url, body) => {
        const { by } = parseJsonBody(body) as { by: number };
        counter.value += by;
        sendJson(res, 200, { counter: counter.value });
      },
    },
    {
      secret: opts.secret === null ? undefined : (opts.secret ?? SECRET),
      clock,
      maxSkewMs: SKEW,
      nonceStore,
      maxBodyBytes: MAX_BODY,
      blackboard,
    },
  );
  const server = await startAdminServer({ blackboard, journal, isReady: () => true, routes: [increment] });
  servers.push(server);
  return { server, clock, blackboard, counter, nonceStore };
}

interface Attempt {
  body?: string;
  headers?: Record<string, string>;
  path?: string;
}

async function post(f: Fixture, attempt: Attempt): Promise<{ status: number; code?: string; body: unknown }> {
  const res = await fetch(`${f.server.url}${attempt.path ?? PATH}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...attempt.headers },
    body: attempt.body ?? '{"by":1}',
  });
  const body = (await res.json()) as { error?: { code: string } };
  return { status: res.status, code: body.error?.code, body };
}

function signed(f: Fixture, over: Partial<Parameters<typeof signRequest>[0]> = {}): Record<string, string> {
  return signRequest({ secret: SECRET, method: 'POST', path: PATH, body: '{"by":1}', timestamp: f.clock.now(), ...over });
}

describe('signRequest', () => {
  it('signs the documented canonical string with HMAC-SHA256 in hex', () => {
    const body = '{"by":1}';
    const headers = signRequest({ secret: SECRET, method: 'post', path: '/x?y=1', body, timestamp: 1767225600000, nonce: 'n'.repeat(16) });
    const canonical = ['POST', '/x?y=1', createHash('sha256').update(body).digest('hex'), '1767225600000', 'n'.repeat(16)].join('\n');
    expect(headers).toEqual({
      'x-governor-timestamp': '1767225600000',
      'x-governor-nonce': 'n'.repeat(16),
      'x-governor-signature': createHmac('sha256', SECRET).update(canonical).digest('hex'),
    });
  });

  it('draws a fresh nonce each time and refuses a bad one', () => {
    const a = signRequest({ secret: SECRET, method: 'POST', path: '/' });
    const b = signRequest({ secret: SECRET, method: 'POST', path: '/' });
    expect(a[SIGNATURE_HEADERS.nonce]).toMatch(/^[0-9a-f]{32}$/);
    expect(a[SIGNATURE_HEADERS.nonce]).not.toBe(b[SIGNATURE_HEADERS.nonce]);
    expect(() => signRequest({ secret: SECRET, method: 'POST', path: '/', nonce: 'short' })).toThrow(/nonce/);
    expect(() => signRequest({ secret: SECRET, method: 'POST', path: '/', timestamp: 1.5 })).toThrow(/timestamp/);
  });
});

describe('signed routes over HTTP', () => {
  let f: Fixture;
  beforeEach(async () => {
    f = await start();
  });

  it('reject every bad request kind with its status, and no state changes', async () => {
    const now = () => f.clock.now();
    const good = signed(f);
    const cases: Array<[string, () => Attempt, number, string]> = [
      ['unsigned', () => ({}), 401, 'GOV_ERR_ADMIN_UNSIGNED'],
      ['signed with another secret', () => ({ headers: signed(f, { secret: 'another-secret-of-enough-length' }) }), 401, 'GOV_ERR_ADMIN_BAD_SIGNATURE'],
      ['signature of another body', () => ({ headers: signed(f), body: '{"by":1000}' }), 401, 'GOV_ERR_ADMIN_BAD_SIGNATURE'],
      ['signature of another path', () => ({ headers: signed(f, { path: `${PATH}?by=1` }) }), 401, 'GOV_ERR_ADMIN_BAD_SIGNATURE'],
      ['signature of another method', () => ({ headers: signed(f, { method: 'PUT' }) }), 401, 'GOV_ERR_ADMIN_BAD_SIGNATURE'],
      ['a flipped signature digit', () => ({ headers: { ...good, [SIGNATURE_HEADERS.signature]: flipFirst(good[SIGNATURE_HEADERS.signature]) } }), 401, 'GOV_ERR_ADMIN_BAD_SIGNATURE'],
      ['a timestamp changed after signing', () => ({ headers: { ...signed(f), [SIGNATURE_HEADERS.timestamp]: String(now() - 1) } }), 401, 'GOV_ERR_ADMIN_BAD_SIGNATURE'],
      ['expired', () => ({ headers: signed(f, { timestamp: now() - SKEW - 1 }) }), 401, 'GOV_ERR_ADMIN_EXPIRED'],
      ['future-dated', () => ({ headers: signed(f, { timestamp: now() + SKEW + 1 }) }), 401, 'GOV_ERR_ADMIN_FUTURE_DATED'],
      ['oversized', () => ({ headers: signed(f, { body: `{"by":1,"pad":"${'x'.repeat(MAX_BODY)}"}` }), body: `{"by":1,"pad":"${'x'.repeat(MAX_BODY)}"}` }), 413, 'GOV_ERR_ADMIN_BODY_TOO_LARGE'],
      ['malformed timestamp', () => ({ headers: { ...signed(f), [SIGNATURE_HEADERS.timestamp]: 'yesterday' } }), 400, 'GOV_ERR_ADMIN_BAD_REQUEST'],
      ['malformed nonce', () => ({ headers: { ...signed(f), [SIGNATURE_HEADERS.nonce]: 'a b' } }), 400, 'GOV_ERR_ADMIN_BAD_REQUEST'],
      ['base64 signature', () => ({ headers: { ...good, [SIGNATURE_HEADERS.signature]: Buffer.from(good[SIGNATURE_HEADERS.signature], 'hex').toString('base64') } }), 400, 'GOV_ERR_ADMIN_BAD_REQUEST'],
      ['signature header missing', () => ({ headers: omit(signed(f), SIGNATURE_HEADERS.signature) }), 400, 'GOV_ERR_ADMIN_BAD_REQUEST'],
      ['correctly signed body that is not JSON', () => ({ headers: signed(f, { body: '{by:' }), body: '{by:' }), 400, 'GOV_ERR_ADMIN_BAD_REQUEST'],
    ];

    let attempts = 0;
    for (const [kind, make, status, code] of cases) {
      const res = await post(f, make());
      attempts++;
      expect({ kind, status: res.status, code: res.code }).toEqual({ kind, status, code });
      expect(f.counter.value, `state changed by: ${kind}`).toBe(0);
    }
    // The good request, then its exact replay.
    expect(await post(f, { headers: good })).toMatchObject({ status: 200, body: { counter: 1 } });
    const replay = await post(f, { headers: good });
    attempts++;
    expect(replay).toMatchObject({ status: 409, code: 'GOV_ERR_ADMIN_REPLAY' });

    expect(attempts).toBe(cases.length + 1);
    expect(f.counter.value).toBe(1); // the good request only: zero changes from `attempts` bad ones
    const rejected = f.blackboard.get<Record<string, number>>(ADMIN_REJECTED_KEY)!;
    // The non-JSON body passed verification and was refused by the route itself.
    expect(Object.values(rejected).reduce((a, b) => a + b, 0)).toBe(attempts - 1);
    expect(rejected).toMatchObject({ GOV_ERR_ADMIN_BAD_SIGNATURE: 6, GOV_ERR_ADMIN_REPLAY: 1, GOV_ERR_ADMIN_EXPIRED: 1 });
  });

  it('a good request works and each new nonce counts once', async () => {
    expect(await post(f, { headers: signed(f), body: '{"by":1}' })).toMatchObject({ status: 200, body: { counter: 1 } });
    const body = '{"by":5}';
    expect(await post(f, { headers: signed(f, { body }), body })).toMatchObject({ status: 200, body: { counter: 6 } });
    expect(f.counter.value).toBe(6);
  });

  it('signs the query string as part of the path', async () => {
    const path = `${PATH}?note=hello`;
    expect(await post(f, { path, headers: signed(f, { path }) })).toMatchObject({ status: 200 });
    expect(await post(f, { path: `${PATH}?note=other`, headers: signed(f, { path }) })).toMatchObject({ status: 401 });
  });

  it('accepts timestamps up to maxSkewMs either way, and not a millisecond more', async () => {
    const now = f.clock.now();
    expect((await post(f, { headers: signed(f, { timestamp: now - SKEW }) })).status).toBe(200);
    expect((await post(f, { headers: signed(f, { timestamp: now + SKEW }) })).status).toBe(200);
    f.clock.nowMs += 1; // the same requests, a millisecond later
    expect((await post(f, { headers: signed(f, { timestamp: now - SKEW }) })).code).toBe('GOV_ERR_ADMIN_EXPIRED');
    expect((await post(f, { headers: signed(f, { timestamp: now + SKEW + 2 }) })).code).toBe('GOV_ERR_ADMIN_FUTURE_DATED');
    expect(f.counter.value).toBe(2);
  });

  it('a replay is refused while its timestamp is in the window, then as expired', async () => {
    const headers = signed(f);
    expect((await post(f, { headers })).status).toBe(200);
    f.clock.nowMs += SKEW; // the last moment the timestamp passes: the nonce is still remembered
    expect((await post(f, { headers })).code).toBe('GOV_ERR_ADMIN_REPLAY');
    f.clock.nowMs += 1;
    expect((await post(f, { headers })).code).toBe('GOV_ERR_ADMIN_EXPIRED');
    expect(f.counter.value).toBe(1);
  });

  it('the same request sent twice at once is executed once', async () => {
    const headers = signed(f);
    const results = await Promise.all([post(f, { headers }), post(f, { headers }), post(f, { headers })]);
    expect(results.map((r) => r.status).sort()).toEqual([200, 409, 409]);
    expect(f.counter.value).toBe(1);
  });

  it('a streamed body beyond the limit is a 413 without a declared length', async () => {
    const body = `{"by":1,"pad":"${'y'.repeat(MAX_BODY * 2)}"}`;
    const headers = signed(f, { body });
    const raw = await new Promise<string>((resolve, reject) => {
      const socket = connect(f.server.port, '127.0.0.1');
      const received: Buffer[] = [];
      const timer = setTimeout(() => reject(new Error('no answer in 3 s')), 3000);
      socket.on('data', (d) => received.push(d));
      socket.on('error', () => undefined);
      socket.on('close', () => {
        clearTimeout(timer);
        resolve(Buffer.concat(received).toString('latin1'));
      });
      const lines = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`);
      socket.write(`POST ${PATH} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n${lines.join('')}\r\n`);
      socket.write(`${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`);
    });
    expect(raw).toMatch(/^HTTP\/1\.1 413 /);
    expect(f.counter.value).toBe(0);
  });

  it('without a secret every request is refused with 403', async () => {
    const unconfigured = await start({ secret: null });
    const res = await post(unconfigured, { headers: signed(unconfigured) });
    expect(res).toMatchObject({ status: 403, code: 'GOV_ERR_ADMIN_NO_SECRET' });
    expect(unconfigured.counter.value).toBe(0);
  });

  it('a full nonce store refuses with 503 and Retry-After until nonces expire', async () => {
    const small = await start({ maxNonces: 2 });
    expect((await post(small, { headers: signed(small) })).status).toBe(200);
    expect((await post(small, { headers: signed(small) })).status).toBe(200);
    const res = await fetch(`${small.server.url}${PATH}`, { method: 'POST', headers: signed(small), body: '{"by":1}' });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe(String(SKEW / 1000));
    small.clock.nowMs += SKEW + 1;
    expect((await post(small, { headers: signed(small) })).status).toBe(200);
    expect(small.counter.value).toBe(3);
    expect(small.nonceStore.size).toBe(1);
  });
});

describe('NonceStore', () => {
  it('holds each nonce until its timestamp leaves the window, then forgets it', () => {
    const store = new NonceStore(1000, 100);
    expect(store.claim('a', 0, 0)).toBe('ok');
    expect(store.claim('b', 500, 500)).toBe('ok');
    expect(store.claim('a', 0, 1000)).toBe('replay');
    expect(store.size).toBe(2);
    expect(store.claim('c', 1001, 1001)).toBe('ok'); // 'a' (timestamp 0) can no longer pass: evicted
    expect(store.size).toBe(2);
    expect(store.claim('d', 2600, 2600)).toBe('ok');
    expect(store.size).toBe(1);
  });

  it('stays bounded under a long stream of requests', () => {
    const store = new NonceStore(1000, 50);
    // One request every 100 ms for 10 minutes of virtual time: at most 11 nonces are live at once.
    for (let t = 0; t < 600_000; t += 100) expect(store.claim(`n-${t}`, t, t)).toBe('ok');
    expect(store.size).toBeLessThanOrEqual(11);
  });

  it('refuses rather than forgets when full', () => {
    const store = new NonceStore(1000, 2);
    store.claim('a', 0, 0);
    store.claim('b', 0, 0);
    expect(store.claim('c', 0, 0)).toBe('full');
    expect(store.claim('a', 0, 0)).toBe('replay');
    expect(store.claim('c', 1001, 1001)).toBe('ok');
  });

  it('a route refuses a store that forgets nonces sooner than the skew window', () => {
    const handler = () => undefined;
    expect(() =>
      signedRoute({ method: 'POST', path: '/x', handler }, { secret: SECRET, clock: new RealClock(), maxSkewMs: 2000, nonceStore: new NonceStore(1000) }),
    ).toThrow(/nonce store/);
  });
});

describe('verifySignedRequest', () => {
  it('claims the nonce only for a verified request', () => {
    const nonceStore = new NonceStore(SKEW);
    const headers = signRequest({ secret: SECRET, method: 'POST', path: '/x', body: 'b', timestamp: 10_000_000, nonce: 'z'.repeat(20) });
    const input = { secret: SECRET, method: 'POST', path: '/x', headers, body: Buffer.from('b'), now: 10_000_000, maxSkewMs: SKEW, nonceStore };
    expect(() => verifySignedRequest({ ...input, body: Buffer.from('c') })).toThrow(/does not match/);
    expect(nonceStore.size).toBe(0);
    verifySignedRequest(input);
    expect(nonceStore.size).toBe(1);
    try {
      verifySignedRequest(input);
      expect.unreachable();
    } catch (err) {
      expect(isGovError(err, 'GOV_ERR_ADMIN_REPLAY')).toBe(true);
    }
  });
});

describe('loadAdminSecret', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gov-secret-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const write = (name: string, text: string, mode: number) => {
    const file = join(dir, name);
    writeFileSync(file, text);
    chmodSync(file, mode);
    return file;
  };
  const codeOf = (fn: () => unknown): string | undefined => {
    try {
      fn();
    } catch (err) {
      return isGovError(err) ? `${err.code}: ${err.message}` : String(err);
    }
    return undefined;
  };

  it('reads the environment variable, or nothing', () => {
    expect(loadAdminSecret({ env: { [ADMIN_SECRET_ENV]: '  0123456789abcdef0123\n' } })?.toString()).toBe('0123456789abcdef0123');
    expect(loadAdminSecret({ env: {} })).toBeUndefined();
  });

  it('reads a private file, trimming the trailing newline', () => {
    const file = write('ok', 'fedcba9876543210fedcba\n', 0o600);
    expect(loadAdminSecret({ file, env: {} })?.toString()).toBe('fedcba9876543210fedcba');
  });

  it.runIf(process.platform !== 'win32')('refuses a file others can read', () => {
    const file = write('open', 'fedcba9876543210fedcba\n', 0o644);
    expect(codeOf(() => loadAdminSecret({ file, env: {} }))).toMatch(/^GOV_ERR_ADMIN_SECRET: .*mode 644.*chmod 600/);
  });

  it('refuses an empty or short secret, a missing file, and two sources', () => {
    expect(codeOf(() => loadAdminSecret({ file: write('empty', '\n', 0o600), env: {} }))).toMatch(/^GOV_ERR_ADMIN_SECRET: .*0 bytes/);
    expect(codeOf(() => loadAdminSecret({ env: { [ADMIN_SECRET_ENV]: 'short' } }))).toMatch(/^GOV_ERR_ADMIN_SECRET: .*at least 16/);
    expect(codeOf(() => loadAdminSecret({ file: join(dir, 'nope'), env: {} }))).toMatch(/^GOV_ERR_ADMIN_SECRET: .*cannot be read/);
    const file = write('both', 'fedcba9876543210fedcba', 0o600);
    expect(codeOf(() => loadAdminSecret({ file, env: { [ADMIN_SECRET_ENV]: 'fedcba9876543210fedcba' } }))).toMatch(/both/);
  });
});

function flipFirst(hex: string): string {
  return (hex[0] === '0' ? '1' : '0') + hex.slice(1);
}

function omit(headers: Record<string, string>, name: string): Record<string, string> {
  const copy = { ...headers };
  delete copy[name];
  return copy;
}
