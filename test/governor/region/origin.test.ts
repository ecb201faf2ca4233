import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ORIGIN_LIMITS, startDemoOrigin, type DemoOrigin } from '../../../governor/region/origin.js';
import { fetchText } from './fake-backend.js';

let origin: DemoOrigin;

beforeEach(async () => {
  origin = await startDemoOrigin({ host: '127.0.0.1', port: 0 });
});
afterEach(async () => {
  await origin.close();
});

async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await fn();
  return { value, ms: performance.now() - started };
}

describe('demo origin', () => {
  it('serves an HTML index that links every page', async () => {
    const answer = await fetchText(`${origin.url}/`);
    expect(answer.status).toBe(200);
    expect(answer.headers['content-type']).toMatch(/text\/html/);
    for (const link of ['/static/app.css', '/static/app.js', '/static/logo.svg', '/api/time', '/work?ms=', '/bytes?n=', '/admin/slow']) {
      expect(answer.body).toContain(link);
    }
  });

  it('serves static files as cacheable with an ETag, and 304 for a matching If-None-Match', async () => {
    const first = await fetchText(`${origin.url}/static/app.css`);
    expect(first.status).toBe(200);
    expect(first.headers['cache-control']).toBe('public, max-age=60');
    expect(first.headers['content-type']).toMatch(/text\/css/);
    const etag = first.headers.etag as string;
    expect(etag).toMatch(/^".+"$/);

    const again = await fetchText(`${origin.url}/static/app.css`, 'GET', { 'if-none-match': etag });
    expect(again.status).toBe(304);
    expect(again.body).toBe('');
    expect((await fetchText(`${origin.url}/static/app.css`, 'GET', { 'if-none-match': '"other"' })).status).toBe(200);
    expect((await fetchText(`${origin.url}/static/missing.png`)).status).toBe(404);
  });

  it('serves /api/time as uncacheable JSON', async () => {
    const answer = await fetchText(`${origin.url}/api/time`);
    expect(answer.status).toBe(200);
    expect(answer.headers['cache-control']).toBe('no-store');
    const body = JSON.parse(answer.body) as { now: number; iso: string };
    expect(new Date(body.iso).getTime()).toBe(body.now);
    expect(Math.abs(body.now - Date.now())).toBeLessThan(5_000);
  });

  it('waits /work?ms=N without blocking other requests, and rejects N out of range', async () => {
    const slow = timed(() => fetchText(`${origin.url}/work?ms=150`));
    const fast = await timed(() => fetchText(`${origin.url}/api/time`));
    expect(fast.ms).toBeLessThan(120);
    const { value, ms } = await slow;
    expect(value.status).toBe(200);
    expect(JSON.parse(value.body)).toEqual({ waitedMs: 150 });
    expect(ms).toBeGreaterThanOrEqual(145);

    for (const bad of ['', 'abc', '-1', '1.5', String(ORIGIN_LIMITS.workMs + 1)]) {
      const answer = await fetchText(`${origin.url}/work?ms=${bad}`);
      expect(answer.status).toBe(400);
      expect(JSON.parse(answer.body).error).toMatch(/ms must be an integer from 0 to 10000/);
    }
  });

  it('answers /bytes?n=N with exactly N bytes up to 1 MiB', async () => {
    expect((await fetchText(`${origin.url}/bytes?n=0`)).body).toHaveLength(0);
    const answer = await fetchText(`${origin.url}/bytes?n=5000`);
    expect(answer.status).toBe(200);
    expect(answer.headers['content-length']).toBe('5000');
    expect(answer.body).toHaveLength(5000);
    expect((await fetchText(`${origin.url}/bytes?n=${ORIGIN_LIMITS.bytes}`)).body).toHaveLength(ORIGIN_LIMITS.bytes);
    expect((await fetchText(`${origin.url}/bytes?n=${ORIGIN_LIMITS.bytes + 1}`)).status).toBe(400);
  });

  it('answers HEAD without a body, 404 for unknown pages and 405 for other methods', async () => {
    const head = await fetchText(`${origin.url}/bytes?n=100`, 'HEAD');
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe('100');
    expect(head.body).toBe('');
    expect((await fetchText(`${origin.url}/nope`)).status).toBe(404);
    const post = await fetchText(`${origin.url}/`, 'POST');
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe('GET, HEAD');
    expect((await fetchText(`${origin.url}/admin/slow?ms=0`, 'DELETE')).status).toBe(405);
  });

  it('slows every page while the slow switch is on, over HTTP (GET or POST) and through setSlow', async () => {
    const on = await fetchText(`${origin.url}/admin/slow?ms=120`, 'POST');
    expect(on.status).toBe(200);
    expect(JSON.parse(on.body)).toEqual({ slowMs: 120 });
    expect(origin.slowMs()).toBe(120);
    const slowPage = await timed(() => fetchText(`${origin.url}/static/app.js`));
    expect(slowPage.value.status).toBe(200);
    expect(slowPage.ms).toBeGreaterThanOrEqual(115);

    const off = await timed(() => fetchText(`${origin.url}/admin/slow?ms=0`));
    expect(off.ms).toBeLessThan(100);
    expect((await timed(() => fetchText(`${origin.url}/api/time`))).ms).toBeLessThan(100);

    origin.setSlow(120);
    expect((await timed(() => fetchText(`${origin.url}/api/time`))).ms).toBeGreaterThanOrEqual(115);
    origin.setSlow(0);
    expect((await timed(() => fetchText(`${origin.url}/api/time`))).ms).toBeLessThan(100);
  });

  it('rejects a slow switch value out of range', async () => {
    expect((await fetchText(`${origin.url}/admin/slow?ms=${ORIGIN_LIMITS.slowMs + 1}`)).status).toBe(400);
    expect((await fetchText(`${origin.url}/admin/slow`)).status).toBe(400);
    expect(() => origin.setSlow(-1)).toThrow(/slow switch must be an integer from 0 to 30000 ms, got -1/);
    expect(origin.slowMs()).toBe(0);
  });

  it('close() ends a response still waiting on the slow switch', async () => {
    origin.setSlow(5_000);
    const pending = fetchText(`${origin.url}/api/time`).then(
      () => 'answered',
      () => 'cut',
    );
    await new Promise((resolve) => setTimeout(resolve, 50));
    const closing = timed(() => origin.close());
    expect(await pending).toBe('cut');
    expect((await closing).ms).toBeLessThan(1_000);
    origin = await startDemoOrigin();
  });
});
