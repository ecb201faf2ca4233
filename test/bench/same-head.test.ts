import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The proxy benchmark's node-same-head target stands for "a bare Node server returning the same
// bytes" as a Governor cache hit. These tests run the benchmark's own origin and Governor roles
// (real processes from dist/, as the benchmark starts them) and hold the target's answer to a
// real hit, so that a change to what a hit sends cannot leave the benchmark comparing against
// other bytes.

const SCRIPT = fileURLToPath(new URL('./proxy.mjs', import.meta.url));

interface Answer {
  status: number;
  headers: [string, string][];
  body: Buffer;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/** Starts one of the benchmark's roles on a free port; resolves once it says it is ready. */
async function startRole(role: string, origin?: string): Promise<{ child: ChildProcess; url: string }> {
  const port = await freePort();
  const child = fork(SCRIPT, ['--role', role, '--port', String(port), '--workers', '1', ...(origin ? ['--origin', origin] : [])], {
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const [message] = (await Promise.race([once(child, 'message'), once(child, 'exit').then(() => [undefined])])) as [{ ready?: boolean } | undefined];
  if (!message?.ready) throw new Error(`${role} did not start`);
  return { child, url: `http://127.0.0.1:${port}` };
}

function get(url: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const headers: [string, string][] = [];
          for (let i = 0; i < res.rawHeaders.length; i += 2) headers.push([res.rawHeaders[i].toLowerCase(), res.rawHeaders[i + 1]]);
          resolve({ status: res.statusCode ?? 0, headers, body: Buffer.concat(chunks) });
        });
      })
      .on('error', reject);
  });
}

/** The answer's headers with the values that change by the second (Date, Age) replaced by their shape. */
function comparable(answer: Answer): [string, string][] {
  return answer.headers.map(([name, value]) => {
    if (name === 'date') return [name, Number.isNaN(Date.parse(value)) ? `invalid date ${value}` : 'a date'];
    if (name === 'age') return [name, /^\d+$/.test(value) ? 'seconds' : `invalid age ${value}`];
    return [name, value];
  });
}

describe('the proxy benchmark: node-same-head answers with the bytes of a Governor cache hit', () => {
  let origin: { child: ChildProcess; url: string };
  let governor: { child: ChildProcess; url: string };

  beforeAll(async () => {
    origin = await startRole('origin');
    governor = await startRole('governor', origin.url);
  }, 30_000);

  afterAll(() => {
    governor?.child.kill();
    origin?.child.kill();
  });

  for (const size of [1024, 102400]) {
    it(`at ${size} bytes: the same status, header names, order and values, and body`, async () => {
      await get(`${governor.url}/c/${size}`); // a miss, which the cache stores
      const hit = await get(`${governor.url}/c/${size}`);
      const same = await get(`${origin.url}/h/${size}`);
      expect(hit.headers).toContainEqual(['x-governor-cache', 'HIT']);
      expect(same.status).toBe(hit.status);
      expect(comparable(same)).toEqual(comparable(hit));
      expect(same.body.equals(hit.body)).toBe(true);
      expect(same.body.length).toBe(size);
    });
  }

  it('answers as the origin on the URLs the other targets load: no hit headers there', async () => {
    const cacheable = await get(`${origin.url}/c/1024`);
    expect(cacheable.headers.map(([name]) => name)).not.toContain('age');
    expect(cacheable.headers.map(([name]) => name)).not.toContain('x-governor-cache');
    expect(cacheable.headers).toContainEqual(['cache-control', 'public, max-age=3600']);
  });
});
