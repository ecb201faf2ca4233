import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { connectionOptions, leanAgent } from '../../proxy/lean-agent.js';

describe('connectionOptions', () => {
  it('drops the undefined keys and the message options, and keeps every other value', () => {
    const options = {
      host: 'a',
      port: 80,
      ca: undefined,
      socketPath: undefined,
      timeout: 0,
      servername: '',
      keepAlive: false,
      lookup: null,
      method: 'GET',
      headers: { host: 'a' },
      agent: false,
      path: '/x',
    };
    expect(connectionOptions(options)).toEqual({ host: 'a', port: 80, timeout: 0, servername: '', keepAlive: false, lookup: null });
    expect(options).toHaveProperty('ca'); // the caller's object is left alone
    expect(options).toHaveProperty('path');
  });
});

describe('leanAgent', () => {
  let server: http.Server | undefined;
  afterEach(async () => {
    await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined));
  });

  it('keeps connections alive and hands Node only the options of the connection', async () => {
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

    // The limits still hold, read by the constructor, though the agent's options no longer carry them.
    expect(agent.maxSockets).toBe(4);
    expect(Object.keys((agent as unknown as { options: object }).options)).not.toContain('maxSockets');
    expect(ports).toHaveLength(2);
    expect(ports[1]).toBe(ports[0]); // the second request reused the first one's connection
    expect(seen.length).toBeGreaterThan(0);
    for (const options of seen) {
      expect(Object.entries(options).filter(([, value]) => value === undefined)).toEqual([]);
      expect(options).not.toHaveProperty('method');
      expect(options).not.toHaveProperty('headers');
      expect(options.path).toBeNull(); // the agent's own, not the request's '/'
    }
  });
});
