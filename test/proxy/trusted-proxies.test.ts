import { afterEach, describe, expect, it } from 'vitest';
import { TrustedProxies } from '../../proxy/trusted-proxies.js';
import { request, startOrigin, startProxy } from './harness.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

describe('TrustedProxies.clientAddress', () => {
  const trusted = new TrustedProxies(['10.0.0.0/8', '127.0.0.1', 'fd00::/8']);

  it('believes X-Forwarded-For only from a trusted peer', () => {
    expect(trusted.clientAddress('10.1.2.3', '203.0.113.9')).toBe('203.0.113.9');
    expect(trusted.clientAddress('127.0.0.1', '203.0.113.9')).toBe('203.0.113.9');
    expect(trusted.clientAddress('fd00::1', '2001:db8::7')).toBe('2001:db8::7');
    expect(trusted.clientAddress('198.51.100.4', '203.0.113.9')).toBe('198.51.100.4'); // not a balancer: the header may be forged
    expect(trusted.clientAddress('10.1.2.3', undefined)).toBe('10.1.2.3');
  });

  it('takes the right-most untrusted hop, so a client cannot forge its way past the balancers', () => {
    // the client sent "X-Forwarded-For: 1.1.1.1"; the public balancer appended the real client; an inner one its own
    expect(trusted.clientAddress('10.0.0.2', '1.1.1.1, 203.0.113.9, 10.0.0.7')).toBe('203.0.113.9');
    expect(trusted.clientAddress('10.0.0.2', ['1.1.1.1', '203.0.113.9'])).toBe('203.0.113.9');
    expect(trusted.clientAddress('10.0.0.2', '10.0.0.9, 10.0.0.8')).toBe('10.0.0.9'); // every hop trusted: the left-most
  });

  it('reads ports and brackets, and stops at an entry that is not an address', () => {
    expect(trusted.clientAddress('10.0.0.2', '203.0.113.9:51234')).toBe('203.0.113.9');
    expect(trusted.clientAddress('10.0.0.2', '[2001:db8::7]:443')).toBe('2001:db8::7');
    expect(trusted.clientAddress('10.0.0.2', 'unknown, 10.0.0.7')).toBe('10.0.0.7');
    expect(trusted.clientAddress('10.0.0.2', 'garbage')).toBe('10.0.0.2');
    expect(trusted.clientAddress('10.0.0.2', '')).toBe('10.0.0.2');
  });

  it('changes nothing without trusted proxies', () => {
    expect(new TrustedProxies([]).clientAddress('127.0.0.1', '203.0.113.9')).toBe('127.0.0.1');
  });

  it('refuses entries that are not addresses or CIDR blocks, naming them', () => {
    for (const bad of ['load-balancer.internal', '10.0.0.0/33', 'fd00::/129', '10.0.0.0/8/8', '10.0.0.0/x', '']) {
      expect(() => new TrustedProxies([bad]), bad).toThrow(`trusted proxy ${JSON.stringify(bad)}: expected an IP address or a CIDR block`);
    }
  });
});

describe('a proxy behind a trusted balancer', () => {
  it('counts and blocks the client X-Forwarded-For names, and passes the header on with its peer appended', async () => {
    const origin = await startOrigin((_req, res) => res.end('ok'));
    cleanups.push(() => origin.close());
    const proxy = await startProxy(origin.url, { trustedProxies: ['127.0.0.1'] });
    cleanups.push(() => proxy.close());
    const fromClient = { headers: { 'x-forwarded-for': '203.0.113.9' } };

    expect((await request(proxy.url, fromClient)).status).toBe(200);
    expect(origin.received[0].headers['x-forwarded-for']).toBe('203.0.113.9,127.0.0.1');
    expect(proxy.sample().topClients).toEqual([{ address: '203.0.113.9', requests: 1 }]);

    proxy.block('203.0.113.9', Date.now() + 60_000, 'flood');
    expect((await request(proxy.url, fromClient)).status).toBe(403);
    expect((await request(proxy.url, { headers: { 'x-forwarded-for': '198.51.100.4' } })).status).toBe(200); // another client
    expect((await request(proxy.url)).status).toBe(200); // the balancer's own request
  });

  it('ignores X-Forwarded-For from a peer that is not trusted', async () => {
    const origin = await startOrigin((_req, res) => res.end('ok'));
    cleanups.push(() => origin.close());
    const proxy = await startProxy(origin.url, { trustedProxies: ['10.0.0.0/8'] });
    cleanups.push(() => proxy.close());
    proxy.block('203.0.113.9', Date.now() + 60_000, 'flood');
    expect((await request(proxy.url, { headers: { 'x-forwarded-for': '203.0.113.9' } })).status).toBe(200);
    expect(proxy.sample().topClients).toEqual([{ address: '127.0.0.1', requests: 1 }]);
  });
});
