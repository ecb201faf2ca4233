// The servers of the proxy benchmark (proxy.mjs), one per process: the origin (also the node and
// node-same-head targets), Governor, and the bare proxies it is measured against. Not run by hand:
// server-processes.mjs's startRole forks this file and waits for its { ready: true } message.
//
// Usage: USAGE at the end.
import { Buffer } from 'node:buffer';
import cluster from 'node:cluster';
import http from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { oneOf, parseBenchArgs, positiveInteger } from './bench-args.mjs';

const HOST = '127.0.0.1';
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Runs `serve` on WORKERS node:cluster workers sharing --port (in this process when WORKERS is 1). */
function clustered(serve) {
  if (WORKERS > 1 && cluster.isPrimary) {
    for (let i = 0; i < WORKERS; i++) cluster.fork();
    let listening = 0;
    cluster.on('listening', () => {
      if (++listening === WORKERS) process.send?.({ ready: true });
    });
    return;
  }
  const server = serve();
  server.listen(Number(args.port), HOST, () => {
    if (cluster.isPrimary) process.send?.({ ready: true });
  });
}

/** The bytes for a path: /<anything>/<size> answers <size> bytes. */
const bodies = new Map();
function bodyFor(url) {
  const size = Number(url.slice(url.lastIndexOf('/') + 1)) || 1024;
  let body = bodies.get(size);
  if (body === undefined) bodies.set(size, (body = Buffer.alloc(size, 'x')));
  return body;
}

const CACHEABLE = 'public, max-age=3600';
const startedAt = Date.now();

/**
 * The origin's answer: /c/<size> cacheable for an hour, /n/<size> no-store. And /h/<size>, for
 * node-same-head: what Governor answers to a cache hit of /c/<size>, byte for byte (the stored
 * headers in the cache's order, Age in seconds since this server started, as an entry cached at
 * the start of the run has, and X-Governor-Cache; Node adds Date and Connection to every answer).
 * test/bench/same-head.test.ts holds it to a real Governor hit.
 */
function answerAsOrigin(req, res) {
  const body = bodyFor(req.url);
  if (req.url.startsWith('/h/')) {
    const age = String(Math.floor((Date.now() - startedAt) / 1000));
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'cache-control': CACHEABLE, 'content-length': body.length, age, 'x-governor-cache': 'HIT' });
  } else {
    const cacheControl = req.url.startsWith('/c/') ? CACHEABLE : 'no-store';
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length, 'cache-control': cacheControl });
  }
  res.end(body);
}

const roles = {
  /** The origin every proxy target is in front of; also, in a process of its own, the node target. */
  origin: () => clustered(() => http.createServer(answerAsOrigin)),
  'hp-ka': () => httpProxyRole(true),
  'hp-default': () => httpProxyRole(false),
  'undici-pool': () => undiciPoolRole(),
  governor: async () => {
    const { defaultConfig } = await import(join(ROOT, 'dist/governor/config.js'));
    const { launchProxy } = await import(join(ROOT, 'dist/proxy/cluster.js'));
    const defaults = defaultConfig().proxy;
    await launchProxy({
      ...defaults,
      host: HOST,
      port: Number(args.port),
      origin: args.origin,
      workers: WORKERS,
      maxInFlight: 512,
      maxQueue: 4096,
      cache: { ...defaults.cache, enabled: true },
    });
    process.send?.({ ready: true });
  },
};

async function httpProxyRole(keepAlive) {
  const { default: httpProxy } = await import('http-proxy');
  clustered(() => {
    const agent = keepAlive ? new http.Agent({ keepAlive: true, maxSockets: 512, maxFreeSockets: 512 }) : undefined;
    const proxy = httpProxy.createProxyServer({ target: args.origin, agent });
    proxy.on('error', (_err, _req, res) => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    return http.createServer((req, res) => proxy.web(req, res));
  });
}

/** Hop-by-hop headers (RFC 9110 7.6.1), which undici refuses to be given and a proxy must not relay. */
const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade'];

/** A copy of `headers` without HOP_BY_HOP: a copy loop, as proxy/headers.ts does, since spread-then-delete leaves a slow dictionary-mode object. */
function withoutHopByHop(headers) {
  const kept = {};
  for (const name in headers) if (!HOP_BY_HOP.includes(name)) kept[name] = headers[name];
  return kept;
}

/** A proxy as small as hp-ka's, over undici's Pool: `stream` writes the body straight into the client response. */
async function undiciPoolRole() {
  const { Pool } = await import('undici');
  clustered(() => {
    const pool = new Pool(args.origin, { connections: 512 });
    return http.createServer((req, res) => {
      const options = { path: req.url, method: req.method, headers: withoutHopByHop(req.headers), body: req.method === 'GET' || req.method === 'HEAD' ? null : req };
      pool
        .stream(options, ({ statusCode, headers }) => {
          res.writeHead(statusCode, withoutHopByHop(headers));
          return res;
        })
        .catch(() => {
          if (!res.headersSent) res.writeHead(502);
          res.end();
        });
    });
  });
}

// ---------------------------------------------------------------- the command line

const USAGE = `Usage: node test/bench/proxy-servers.mjs --role ROLE --port PORT [--origin URL] [--workers 1]
  (forked by proxy.mjs through server-processes.mjs; ROLE: ${Object.keys(roles).join(', ')}; every role but origin needs --origin)`;
const args = parseBenchArgs({
  usage: USAGE,
  options: {
    role: { type: 'string' },
    port: { type: 'string' },
    origin: { type: 'string' },
    workers: { type: 'string', default: '1' },
  },
  checks: { role: oneOf(Object.keys(roles)), port: positiveInteger, workers: positiveInteger },
});
const missing = ['role', 'port', ...(args.role === 'origin' ? [] : ['origin'])].filter((name) => args[name] === undefined);
if (missing.length > 0) {
  console.error(`missing ${missing.map((name) => `--${name}`).join(', ')}\n\n${USAGE}`);
  process.exit(2);
}
const WORKERS = Number(args.workers);
await roles[args.role]();
