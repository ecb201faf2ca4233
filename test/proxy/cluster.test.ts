import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultConfig } from '../../governor/config.js';
import { createClusteredProxy, type ClusteredProxy } from '../../proxy/cluster.js';
import { PROXY_MALLOC_TUNABLES, PROXY_NODE_FLAGS } from '../../proxy/process-settings.js';
import { commandLineOf, environmentOf } from '../command-line.js';
import { proxyConfig, request, startOrigin, waitFor, type TestOrigin } from './harness.js';

// The workers run the built program (dist/proxy/worker.js): `npm run build` first, as CI does.

describe('proxy workers on node:cluster', () => {
  let origin: TestOrigin;
  let proxy: ClusteredProxy;

  beforeAll(async () => {
    origin = await startOrigin((req, res) => {
      if (req.url?.startsWith('/cached')) {
        res.writeHead(200, { 'cache-control': 'max-age=600' });
        res.end('cached');
        return;
      }
      res.end('ok');
    });
    proxy = await createClusteredProxy(proxyConfig(origin.url, { workers: 2, cache: { ...defaultConfig().proxy.cache, enabled: true } }));
  }, 30_000);

  afterAll(async () => {
    await proxy?.close();
    await origin?.close();
  });

  it('serves on one port from two workers and combines their reports into one sample', async () => {
    proxy.sample();
    for (let i = 0; i < 10; i++) expect((await request(proxy.url)).status).toBe(200);

    await waitFor(() => proxy.totals().requests >= 10, 'the workers reported', 3_000);
    const sample = proxy.sample();

    expect(proxy.workerIds()).toHaveLength(2);
    expect(sample.requests).toBe(10);
    expect(sample.status['2xx']).toBe(10);
    expect(sample.workers).toHaveLength(2);
    expect(sample.workers?.every((worker) => worker.requests > 0 && worker.pid > 0)).toBe(true);
    for (const worker of sample.workers!) {
      expect(commandLineOf(worker.pid)).toEqual(expect.arrayContaining([...PROXY_NODE_FLAGS]));
      // /proc shows the environment block as glibc left it after reading the variable: cut after the first tunable (the process's getenv sees all; see process-settings.test.ts)
      expect(environmentOf(worker.pid).GLIBC_TUNABLES).toBe(PROXY_MALLOC_TUNABLES[0]);
    }
    expect(sample.busy).toBeCloseTo(sample.workers!.reduce((sum, w) => sum + w.busy, 0) / 2, 6);
    expect(sample.topClients).toEqual([{ address: '127.0.0.1', requests: 10 }]);
    expect(proxy.isReady()).toBe(true);
  });

  it('pushes the denylist to every worker, and purges every worker\'s cache', async () => {
    proxy.block('127.0.0.1', Date.now() + 60_000, 'test');
    const blocked = await Promise.all(Array.from({ length: 4 }, () => request(proxy.url)));
    proxy.unblock('127.0.0.1');
    await new Promise((resolve) => setTimeout(resolve, 50)); // the unblock message on its way
    for (let i = 0; i < 4; i++) await request(proxy.url, { path: '/cached' });

    expect(blocked.map((reply) => reply.status)).toEqual([403, 403, 403, 403]);
    expect(await proxy.purge({ url: '/cached' })).toEqual({ purged: 2 }); // one copy per worker
  });

  it('replaces a worker that dies, and restarts one on purpose', async () => {
    await waitFor(() => proxy.totals().requests >= 18, 'every request so far reported', 3_000);
    const [victim] = proxy.workerIds();
    process.kill(proxy.sample().workers!.find((w) => w.id === victim)!.pid, 'SIGKILL');

    await waitFor(() => proxy.workerIds().length === 2 && !proxy.workerIds().includes(victim), 'a replacement', 10_000);
    await waitFor(() => proxy.totals().errors.GOV_ERR_PROXY_WORKER_EXITED === 1, 'the exit counted');
    const [target] = proxy.workerIds();
    const { replacedBy } = await proxy.restartWorker(target);
    await waitFor(() => !proxy.workerIds().includes(target), 'the old worker gone', 10_000);

    expect(proxy.workerIds()).toContain(replacedBy);
    expect(proxy.totals().errors.GOV_ERR_PROXY_WORKER_EXITED).toBe(1); // on purpose is not a failure
    expect(proxy.totals().requests).toBeGreaterThanOrEqual(18); // what gone workers reported is kept
    for (let i = 0; i < 4; i++) expect((await request(proxy.url)).status).toBe(200);
    await expect(proxy.restartWorker(9999)).rejects.toThrow(RangeError);
  }, 30_000);
});

describe('draining a clustered proxy', () => {
  it('drains every worker: in-flight requests finish, new ones get 503 with Connection: close', async () => {
    const origin = await startOrigin((req, res) => setTimeout(() => res.end('done'), req.url === '/slow' ? 400 : 0));
    const proxy = await createClusteredProxy(proxyConfig(origin.url, { workers: 2 }));
    try {
      const slow = Promise.all(
        Array.from({ length: 2 }, () => new Promise<number>((resolve) => http.get(`${proxy.url}/slow`, { agent: false }, (res) => res.resume().on('end', () => resolve(res.statusCode ?? 0))))),
      );
      await waitFor(() => origin.received.length === 2, 'both slow requests at the origin');

      const drained = proxy.drain(5_000);
      await new Promise((resolve) => setTimeout(resolve, 50));
      const refused = await request(proxy.url);

      expect(refused.status).toBe(503);
      expect(refused.headers['x-governor-error']).toBe('GOV_ERR_PROXY_DRAINING');
      expect(await slow).toEqual([200, 200]);
      expect(await drained).toEqual({ completed: 2, abandoned: 0 });
      expect(proxy.isReady()).toBe(false);
    } finally {
      await proxy.close();
      await origin.close();
    }
  }, 30_000);
});
