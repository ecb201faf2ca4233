import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { definedOptions, leanAgent } from '../../proxy/lean-agent.js';

describe('definedOptions', () => {
  it('drops the undefined keys and keeps every other value', () => {
    const options = { host: 'a', port: 80, ca: undefined, socketPath: undefined, timeout: 0, servername: '', keepAlive: false, lookup: null };
    expect(definedOptions(options)).toEqual({ host: 'a', port: 80, timeout: 0, servername: '', keepAlive: false, lookup: null });
    expect(Object.keys(definedOptions(options))).not.toContain('ca');
    expect(options).toHaveProperty('ca'); // the caller's object is left alone
  });
});

describe('leanAgent', () => {
  let server: http.Server | undefined;
  afterEach(async () => {
    await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined));
  });

  it('keeps connections alive and hands Node request options without undefined keys', async () => {
    const ports: number[] = [];
    server = http.createServer((req, res) => {
      ports.push(req.socket.remotePort ?? 0);
      res.end('ok');
    });
    await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const agent = leanAgent(false, { keepAlive: true, maxSockets: 4 });
    const seen: Array<Record<string, unknown>> = [];
    const getName = agent.getName.bind(agent);
    agent.getName = (options) => {
      seen.push({ ...options });
      return getName(options);
    };

    for (let i = 0; i < 2; i++) {
      const body = await new Promise<string>((resolve, reject) => {
        // http-proxy's shape: TLS and socket keys present with undefined values.
        const options = { host: '127.0.0.1', port, path: '/', method: 'GET', agent, socketPath: undefined, localAddress: undefined, ca: undefined, cert: undefined };
        http
          .request(options, (res) => {
            let text = '';
            res.on('data', (chunk) => (text += chunk));
            res.on('end', () => resolve(text));
          })
          .on('error', reject)
          .end();
      });
      expect(body).toBe('ok');
    }
    agent.destroy();

    expect(ports).toHaveLength(2);
    expect(ports[1]).toBe(ports[0]); // the second request reused the first one's connection
    expect(seen.length).toBeGreaterThan(0);
    for (const options of seen) expect(Object.entries(options).filter(([, value]) => value === undefined)).toEqual([]);
  });
});
