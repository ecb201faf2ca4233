import cluster from 'node:cluster';
import { pino, type Level } from 'pino';
import { REPORT_INTERVAL_MS, WORKER_CONFIG_ENV, WORKER_LOG_LEVEL_ENV, type FromWorker, type ToWorker } from './cluster-messages.js';
import { createProxy, type EdgeProxy, type ProxyConfig } from './server.js';

/**
 * A proxy worker process (started by ./cluster.ts through node:cluster): runs one single-process
 * proxy on the shared port, reports its interval sample and totals to the primary every
 * second, and obeys the primary's readiness, drain, denylist and purge messages. It exits when
 * the primary asks, or when the primary is gone (the IPC channel closes).
 */
function send(message: FromWorker): void {
  if (process.connected) process.send?.(message);
}

async function run(): Promise<void> {
  const cfg = JSON.parse(process.env[WORKER_CONFIG_ENV] ?? 'null') as ProxyConfig | null;
  if (cfg === null) throw new Error(`${WORKER_CONFIG_ENV} is not set: a proxy worker is started by the primary`);
  const log = pino({ level: (process.env[WORKER_LOG_LEVEL_ENV] as Level | undefined) ?? 'info' }).child({ part: 'proxy', worker: cluster.worker?.id });
  const proxy = await createProxy({ ...cfg, workers: 1 }, { log, onInvalidate: (key) => send({ t: 'invalidate', key }) });
  const reporter = setInterval(() => {
    send({ t: 'report', sample: proxy.sample(), totals: proxy.totals(), rssBytes: process.memoryUsage.rss() });
  }, REPORT_INTERVAL_MS);
  reporter.unref();
  const exit = (code: number) => {
    clearInterval(reporter);
    void proxy.close().finally(() => process.exit(code));
  };
  process.on('message', (message: ToWorker) => handle(proxy, message, exit));
  process.on('disconnect', () => exit(0));
  send({ t: 'listening', port: proxy.port });
}

function handle(proxy: EdgeProxy, message: ToWorker, exit: (code: number) => void): void {
  switch (message.t) {
    case 'ready':
      return proxy.setReady(message.ready);
    case 'drain':
      void proxy.drain(message.deadlineMs).then((result) => {
        send({ t: 'drained', id: message.id, ...result });
        if (message.exit) exit(0);
      });
      return;
    case 'denylist':
      return proxy.replaceBlocked(message.entries);
    case 'block':
      return proxy.block(message.entry.address, message.entry.untilMs, message.entry.reason);
    case 'unblock':
      proxy.unblock(message.address);
      return;
    case 'purge':
      void proxy.purge(message.what).then(
        ({ purged }) => message.id !== undefined && send({ t: 'purged', id: message.id, purged }),
        () => message.id !== undefined && send({ t: 'purged', id: message.id, purged: 0 }),
      );
      return;
    case 'close':
      return exit(0);
  }
}

if (cluster.isWorker) {
  run().catch((err: unknown) => {
    send({ t: 'failed', message: err instanceof Error ? err.message : String(err) });
    process.exit(1);
  });
}
