// Proxy benchmark: requests/s and latency p50/p99 against the origin directly and through the
// proxy, measured side by side in one run (a ratio, not an absolute figure, is what compares
// fairly on a noisy machine). Not a test.
//
//   npm run build && node test/bench/proxy.mjs [--duration 5] [--connections 32]
//
// The origin and the proxy (from dist/) each run in a child process of their own, so that the load
// generator (autocannon, in this process) does not share their event loop. Everything listens on
// 127.0.0.1 only.
import { Buffer } from 'node:buffer';
import { fork } from 'node:child_process';
import http from 'node:http';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';

const BODY = Buffer.alloc(1024, 'x'); // the origin's fixed 1 KiB response

const { values: args } = parseArgs({
  options: {
    role: { type: 'string', default: 'bench' },
    origin: { type: 'string' },
    duration: { type: 'string', default: '5' },
    connections: { type: 'string', default: '32' },
  },
});

/** Child: a minimal origin answering every request with the same 1 KiB body. */
async function runOrigin() {
  const server = http.createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': BODY.length });
    res.end(BODY);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  process.send({ url: `http://127.0.0.1:${server.address().port}` });
}

/** Child: the edge proxy from dist/, with limits high enough not to shed this load. */
async function runProxy() {
  const { createProxy } = await import('../../dist/proxy/server.js');
  const proxy = await createProxy({
    host: '127.0.0.1',
    port: 0,
    origin: args.origin,
    maxInFlight: 256,
    maxQueue: 1024,
    queueTimeoutMs: 5_000,
    upstreamTimeoutMs: 10_000,
    clientTimeoutMs: 10_000,
    retryAfterSeconds: 1,
    maxTrackedClients: 1000,
  });
  process.send({ url: proxy.url });
}

/** Starts this script in `role` in a child process and resolves with the URL it listens on. */
async function startChild(role, extra = []) {
  const child = fork(fileURLToPath(import.meta.url), ['--role', role, ...extra], { stdio: 'inherit' });
  const [message] = await once(child, 'message');
  return { child, url: message.url };
}

async function measure(title, url, duration, connections) {
  await autocannon({ url, connections, duration: 1 }); // warm-up: connections, JIT, keep-alive pools
  const result = await autocannon({ title, url, connections, duration });
  return {
    title,
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
  };
}

async function runBench() {
  const duration = Number(args.duration);
  const connections = Number(args.connections);
  const origin = await startChild('origin');
  const proxy = await startChild('proxy', ['--origin', origin.url]);
  try {
    const direct = await measure('origin directly', origin.url, duration, connections);
    const proxied = await measure('through the proxy', proxy.url, duration, connections);
    const rows = [direct, proxied].map((r) => ({
      target: r.title,
      'req/s': Math.round(r.rps),
      'p50 ms': r.p50,
      'p99 ms': r.p99,
      'non-2xx': r.non2xx,
      errors: r.errors,
    }));
    rows.push({
      target: 'proxy / direct',
      'req/s': (proxied.rps / direct.rps).toFixed(2),
      'p50 ms': direct.p50 > 0 ? (proxied.p50 / direct.p50).toFixed(2) : 'n/a',
      'p99 ms': direct.p99 > 0 ? (proxied.p99 / direct.p99).toFixed(2) : 'n/a',
      'non-2xx': '',
      errors: '',
    });
    console.log(`\n${connections} connections, ${duration} s per target, 1 KiB responses, node ${process.version}`);
    console.table(rows);
  } finally {
    proxy.child.kill();
    origin.child.kill();
  }
}

const roles = { origin: runOrigin, proxy: runProxy, bench: runBench };
const role = roles[args.role];
if (role === undefined) {
  console.error(`unknown --role ${args.role}; expected one of ${Object.keys(roles).join(', ')}`);
  process.exit(2);
}
await role();
