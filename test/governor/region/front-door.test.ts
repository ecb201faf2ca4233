import { request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { startFrontDoor, type Backend, type FrontDoor } from '../../../governor/region/front-door.js';
import { fetchText, refusingUrl, runRequests, startFakeBackend, type FakeBackend } from './fake-backend.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function fakes(...specs: Array<[string, number]>): Promise<FakeBackend[]> {
  const list = await Promise.all(specs.map(([id, delay]) => startFakeBackend(id, delay)));
  for (const fake of list) cleanups.push(() => fake.close());
  return list;
}

async function frontDoor(backends: () => Backend[] | Promise<Backend[]>, refreshMs = 100): Promise<FrontDoor> {
  const door = await startFrontDoor({ host: '127.0.0.1', port: 0, backends, refreshMs, closeGraceMs: 200 });
  cleanups.push(() => door.close());
  return door;
}

const count = (statuses: number[], status: number) => statuses.filter((s) => s === status).length;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('front door', () => {
  it('sends most requests to the backend with fewer outstanding requests', async () => {
    const [fast, slow] = await fakes(['fast', 2], ['slow', 120]);
    const door = await frontDoor(() => [fast.backend(), slow.backend()]);

    const statuses = await runRequests(door.url, 120, 8);

    expect(count(statuses, 200)).toBe(120);
    expect(fast.served + slow.served).toBe(120);
    expect(slow.served).toBeGreaterThan(0);
    expect(fast.served).toBeGreaterThan(4 * slow.served);
    const stats = door.stats();
    expect(stats.requests).toBe(120);
    expect(stats.backends.map((b) => b.outstanding)).toEqual([0, 0]);
    expect(stats.backends.find((b) => b.id === 'slow')?.requests).toBe(slow.served);
  });

  it('alternates between equally idle backends', async () => {
    const [a, b] = await fakes(['a', 0], ['b', 0]);
    const door = await frontDoor(() => [a.backend(), b.backend()]);
    await runRequests(door.url, 20, 1);
    expect([a.served, b.served]).toEqual([10, 10]);
  });

  it('skips backends that are leaving, pending, not ready or unroutable', async () => {
    const [good, leaving, pending, notReady] = await fakes(['good', 0], ['leaving', 0], ['pending', 0], ['not-ready', 0]);
    notReady.ready = false;
    const door = await frontDoor(() => [
      leaving.backend('leaving'),
      pending.backend('pending'),
      notReady.backend(),
      { id: 'no-url', proxyUrl: '', state: 'running' },
      good.backend(),
    ]);

    const statuses = await runRequests(door.url, 30, 4);

    expect(count(statuses, 200)).toBe(30);
    expect(good.served).toBe(30);
    expect(door.stats().ready).toEqual(['good']);
    const reasons = Object.fromEntries(door.stats().backends.map((b) => [b.id, b.notReadyReason]));
    expect(reasons).toEqual({
      leaving: 'state leaving',
      pending: 'state pending',
      'not-ready': '/readyz answered 503',
      'no-url': 'no proxy URL',
      good: undefined,
    });
  });

  it('starts sending to a backend once its /readyz passes, and stops when it fails', async () => {
    const [a, b] = await fakes(['a', 0], ['b', 0]);
    b.ready = false;
    const door = await frontDoor(() => [a.backend(), b.backend()], 50);
    expect(door.stats().ready).toEqual(['a']);
    b.ready = true;
    await door.refresh();
    expect(door.stats().ready).toEqual(['a', 'b']);
    a.ready = false;
    await door.refresh();
    await runRequests(door.url, 10, 2);
    expect([a.served, b.served]).toEqual([0, 10]);
  });

  it('retries a GET on another backend when the chosen one refuses connections', async () => {
    const [alive] = await fakes(['alive', 0]);
    const dead: Backend = { id: 'dead', proxyUrl: await refusingUrl(), adminUrl: alive.adminUrl, state: 'running' };
    const door = await frontDoor(() => [dead, alive.backend()], 60_000);
    expect(door.stats().ready).toEqual(['dead', 'alive']);

    const statuses = await runRequests(door.url, 10, 2);

    expect(count(statuses, 200)).toBe(10);
    expect(alive.served).toBe(10);
    const stats = door.stats();
    expect(stats.retries).toBeGreaterThanOrEqual(1);
    expect(stats.ready).toEqual(['alive']);
    expect(stats.backends.find((b) => b.id === 'dead')?.notReadyReason).toMatch(/forward failed: connect ECONNREFUSED/);
  });

  it('does not retry a POST; it answers 502 with a coded error', async () => {
    const door = await frontDoor(() => [{ id: 'dead', proxyUrl: 'http://127.0.0.1:1', state: 'running' }], 60_000);
    const answer = await fetchText(door.url, 'POST');
    expect(answer.status).toBe(502);
    expect(JSON.parse(answer.body).error.code).toBe('GOV_ERR_FRONT_DOOR_UPSTREAM');
    expect(door.stats().retries).toBe(0);
    expect(door.stats().errors.upstream_failed).toBe(1);
  });

  it('retries a GET that meets a draining 503, and passes the 503 through for a POST', async () => {
    const [draining, other] = await fakes(['draining', 0], ['other', 0]);
    draining.draining = true;
    const door = await frontDoor(() => [draining.backend(), other.backend()], 60_000);

    const get = await fetchText(door.url);
    expect(get.status).toBe(200);
    expect(get.body).toBe('other');
    expect(door.stats().retries).toBe(1);
    expect(door.stats().ready).toEqual(['other']);

    await door.refresh();
    expect(door.stats().ready).toEqual(['draining', 'other']);
    const post = await fetchText(door.url, 'POST');
    const posts = [post, await fetchText(door.url, 'POST')];
    expect(posts.map((p) => p.status).sort()).toEqual([200, 503]);
    expect(posts.find((p) => p.status === 503)?.headers['x-governor-error']).toBe('GOV_ERR_PROXY_DRAINING');
  });

  it('loses no request while a backend drains and goes away mid-load', async () => {
    const [stays, goes] = await fakes(['stays', 3], ['goes', 3]);
    let goesState: Backend['state'] = 'running';
    let goesListed = true;
    // No periodic refresh: the door learns of the drain from the draining 503 it meets (so the
    // retry path is always taken), and of the departure from the refresh done below.
    const door = await frontDoor(() => [stays.backend(), ...(goesListed ? [goes.backend(goesState)] : [])], 60_000);

    let leaving: Promise<void> | undefined;
    const statuses = await runRequests(door.url, 400, 8, (done) => {
      if (done !== 120) return;
      leaving = (async () => {
        // The instance's controlled shutdown: not ready, draining, leaving, closed, gone.
        goes.ready = false;
        goes.draining = true;
        goesState = 'leaving';
        await sleep(30);
        await goes.close();
        goesListed = false;
        await door.refresh();
      })();
    });
    await leaving;

    expect(statuses).toHaveLength(400);
    expect(count(statuses, 200)).toBe(400);
    expect(goes.served).toBeGreaterThan(20);
    expect(stays.served + goes.served).toBe(400);
    const stats = door.stats();
    expect(stats.retries).toBeGreaterThan(0);
    expect(stats.errors.upstream_failed + stats.errors.no_ready + stats.errors.upstream_reset).toBe(0);
    expect(stats.ready).toEqual(['stays']);
  });

  it('answers 503 with Retry-After and a coded JSON error when no backend is ready', async () => {
    const door = await frontDoor(() => []);
    const answer = await fetchText(`${door.url}/anything`);
    expect(answer.status).toBe(503);
    expect(answer.headers['retry-after']).toBe('1');
    expect(answer.headers['content-type']).toBe('application/json');
    expect(JSON.parse(answer.body)).toEqual({
      error: { code: 'GOV_ERR_FRONT_DOOR_NO_READY', message: 'no ready instance; retry later' },
    });
    expect(door.stats().errors.no_ready).toBe(1);
  });

  it('answers 504 when the backend stays silent past upstreamTimeoutMs', async () => {
    const [silent] = await fakes(['silent', 2_000]);
    const door = await startFrontDoor({ backends: () => [silent.backend()], upstreamTimeoutMs: 100, closeGraceMs: 200 });
    cleanups.push(() => door.close());
    const answer = await fetchText(door.url);
    expect(answer.status).toBe(504);
    expect(JSON.parse(answer.body).error).toEqual({
      code: 'GOV_ERR_FRONT_DOOR_UPSTREAM',
      message: 'instance silent did not answer within 100 ms',
    });
    expect(door.stats().errors.upstream_timeout).toBe(1);
    expect(door.stats().retries).toBe(0);
  });

  it('keeps the previous backend list when reading it fails', async () => {
    const [a] = await fakes(['a', 0]);
    let fail = false;
    const door = await frontDoor(() => {
      if (fail) throw new Error('registry unreadable');
      return [a.backend()];
    });
    fail = true;
    await door.refresh();
    expect(door.stats().errors.backends_list_failed).toBe(1);
    expect((await fetchText(door.url)).status).toBe(200);
  });

  it('destroys the upstream request when the client goes away', async () => {
    const [slow] = await fakes(['slow', 2_000]);
    const door = await frontDoor(() => [slow.backend()]);
    const client = request(door.url, { agent: false });
    client.on('error', () => undefined);
    client.end();
    for (let i = 0; i < 100 && slow.open === 0; i++) await sleep(10);
    expect(slow.open).toBe(1);
    client.destroy();
    for (let i = 0; i < 100 && slow.aborted === 0; i++) await sleep(10);
    expect(slow.aborted).toBe(1);
    expect(slow.served).toBe(0);
    expect(door.stats().errors.client_aborted).toBe(1);
    expect(door.stats().backends[0].outstanding).toBe(0);
  });

  it('forwards method, path, body and headers, and adds X-Forwarded-For', async () => {
    const { createServer } = await import('node:http');
    const seen: Array<{ method?: string; url?: string; body: string; xff?: string; host?: string }> = [];
    const echo = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        seen.push({ method: req.method, url: req.url, body, xff: req.headers['x-forwarded-for'] as string, host: req.headers.host });
        res.writeHead(201, { 'x-echo': 'yes', 'set-cookie': ['a=1', 'b=2'] });
        res.end('created');
      });
    });
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => echo.close(() => resolve())));
    const port = (echo.address() as { port: number }).port;
    const door = await frontDoor(() => [{ id: 'echo', proxyUrl: `http://127.0.0.1:${port}`, state: 'running' }]);

    const answer = await new Promise<{ status: number; body: string; headers: Record<string, unknown> }>((resolve, reject) => {
      const req = request(`${door.url}/submit?x=1`, { method: 'PUT', agent: false }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
      });
      req.on('error', reject);
      req.end('payload');
    });

    expect(answer).toMatchObject({ status: 201, body: 'created', headers: { 'x-echo': 'yes', 'set-cookie': ['a=1', 'b=2'] } });
    expect(seen).toEqual([{ method: 'PUT', url: '/submit?x=1', body: 'payload', xff: '127.0.0.1', host: `127.0.0.1:${door.port}` }]);
  });
});
