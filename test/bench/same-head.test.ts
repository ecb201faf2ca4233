import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request, type Reply } from '../proxy/harness.js';

// The proxy benchmark's node-same-head target stands for "a bare Node server returning the same
// bytes" as a Governor cache hit. These tests run the benchmark's own origin and Governor servers
// (real processes from dist/, started as the benchmark starts them) and hold the target's answer
// to a real hit, so that a change to what a hit sends cannot leave the benchmark comparing
// against other bytes.

interface Server {
  url: string;
  stop(): Promise<void>;
}
interface ServerProcesses {
  startRole(role: string, options?: { origin?: string }): Promise<Server>;
}
const modulePath = '../bench/server-processes.mjs';
const { startRole } = (await import(modulePath)) as ServerProcesses;

/** The reply's headers in order, lower-cased, with the values that change by the second (Date, Age) replaced by their shape. */
function comparable(reply: Reply): [string, string][] {
  const headers: [string, string][] = [];
  for (let i = 0; i < reply.rawHeaders.length; i += 2) {
    const name = reply.rawHeaders[i].toLowerCase();
    const value = reply.rawHeaders[i + 1];
    if (name === 'date') headers.push([name, Number.isNaN(Date.parse(value)) ? `invalid date ${value}` : 'a date']);
    else if (name === 'age') headers.push([name, /^\d+$/.test(value) ? 'seconds' : `invalid age ${value}`]);
    else headers.push([name, value]);
  }
  return headers;
}

describe('the proxy benchmark: node-same-head answers with the bytes of a Governor cache hit', () => {
  let origin: Server;
  let governor: Server;

  beforeAll(async () => {
    origin = await startRole('origin');
    governor = await startRole('governor', { origin: origin.url });
  }, 30_000);

  afterAll(async () => {
    await governor?.stop();
    await origin?.stop();
  });

  for (const size of [1024, 102400]) {
    it(`at ${size} bytes: the same status, header names, order and values, and body`, async () => {
      await request(governor.url, { path: `/c/${size}` }); // a miss, which the cache stores
      const hit = await request(governor.url, { path: `/c/${size}` });
      const same = await request(origin.url, { path: `/h/${size}` });
      expect(hit.headers['x-governor-cache']).toBe('HIT');
      expect(same.status).toBe(hit.status);
      expect(comparable(same)).toEqual(comparable(hit));
      expect(same.body).toBe(hit.body);
      expect(same.body.length).toBe(size);
    });
  }

  it('answers as the origin on the URLs the other targets load: no hit headers there', async () => {
    const cacheable = await request(origin.url, { path: '/c/1024' });
    expect(cacheable.headers.age).toBeUndefined();
    expect(cacheable.headers['x-governor-cache']).toBeUndefined();
    expect(cacheable.headers['cache-control']).toBe('public, max-age=3600');
  });
});
