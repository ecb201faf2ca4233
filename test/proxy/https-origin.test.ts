import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generate } from 'selfsigned';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createClusteredProxy } from '../../proxy/cluster.js';
import type { EdgeProxy, ProxyConfig } from '../../proxy/server.js';
import { proxyConfig, request, startProxy } from './harness.js';

/** A certificate for 127.0.0.1 that signs itself: the origin's, and the only authority that vouches for it. */
async function selfSignedFor127(): Promise<{ cert: string; key: string }> {
  const made = await generate([{ name: 'commonName', value: '127.0.0.1' }], {
    keyType: 'ec',
    curve: 'P-256',
    notAfterDate: new Date(Date.now() + 24 * 3600_000),
    extensions: [
      { name: 'basicConstraints', cA: true },
      { name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] },
    ],
  });
  return { cert: made.cert, key: made.private };
}

let dir: string;
let caFile: string;
let origin: https.Server;
let originUrl: string;
/** TLS handshakes the origin completed (a keep-alive agent makes one for many requests). */
let handshakes = 0;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'governor-https-origin-'));
  const { cert, key } = await selfSignedFor127();
  caFile = join(dir, 'origin-ca.pem');
  writeFileSync(caFile, cert);
  origin = https.createServer({ cert, key }, (req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'no-store' });
    res.end(`over tls: ${req.method} ${req.url}`);
  });
  origin.on('secureConnection', () => handshakes++);
  origin.listen(0, '127.0.0.1');
  await once(origin, 'listening');
  originUrl = `https://127.0.0.1:${(origin.address() as AddressInfo).port}`;
});

afterAll(async () => {
  origin.closeAllConnections();
  await new Promise((resolve) => origin.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

const proxies: EdgeProxy[] = [];
afterEach(async () => {
  while (proxies.length > 0) await proxies.pop()?.close();
});

async function proxyTo(overrides: Partial<ProxyConfig>): Promise<EdgeProxy> {
  const proxy = await startProxy(originUrl, overrides);
  proxies.push(proxy);
  return proxy;
}

describe('an https origin', () => {
  it('is reached over TLS, verified against proxy.originCaFile, on kept-alive connections', async () => {
    const proxy = await proxyTo({ originCaFile: caFile });
    const before = handshakes;
    for (const path of ['/one?x=1', '/two']) {
      const reply = await request(proxy.url, { path });
      expect(reply.status).toBe(200);
      expect(reply.body).toBe(`over tls: GET ${path}`);
    }
    expect(handshakes - before).toBe(1);
  });

  it('whose certificate no trusted authority signed is refused: 502 GOV_ERR_PROXY_UPSTREAM_FAILED', async () => {
    const proxy = await proxyTo({}); // Node's bundled authorities only
    const reply = await request(proxy.url, { path: '/' });
    expect(reply.status).toBe(502);
    expect(reply.headers['x-governor-error']).toBe('GOV_ERR_PROXY_UPSTREAM_FAILED');
  });
});

describe('proxy.originCaFile that cannot serve', () => {
  const cases: Array<[string, () => string, RegExp]> = [
    ['a missing file', () => join(dir, 'absent.pem'), /cannot be read/],
    ['a file without a PEM certificate', () => write('empty.pem', 'not a certificate\n'), /holds no PEM certificate/],
    ['a certificate that does not parse', () => write('broken.pem', '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'), /certificate 1 of 1 does not parse/],
  ];
  const write = (name: string, text: string) => {
    const file = join(dir, name);
    writeFileSync(file, text);
    return file;
  };

  it.each(cases)('%s stops the proxy from starting with GOV_ERR_CONFIG_ORIGIN_CA', async (_what, file, message) => {
    await expect(startProxy(originUrl, { originCaFile: file() })).rejects.toMatchObject({ code: 'GOV_ERR_CONFIG_ORIGIN_CA', message });
  });

  it('stops a clustered proxy in its primary, before any worker starts', async () => {
    const cfg = proxyConfig(originUrl, { workers: 2, originCaFile: join(dir, 'absent.pem') });
    await expect(createClusteredProxy(cfg)).rejects.toMatchObject({ code: 'GOV_ERR_CONFIG_ORIGIN_CA' });
  });
});
