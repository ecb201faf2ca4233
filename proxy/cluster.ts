import cluster, { type Worker } from 'node:cluster';
import { existsSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino, type Logger } from 'pino';
import { packageRoot } from '../governor/package-info.js';
import { WORKER_CONFIG_ENV, WORKER_LOG_LEVEL_ENV, type FromWorker, type ToWorker } from './cluster-messages.js';
import { Denylist, normalizeAddress } from './denylist.js';
import { proxyProcessEnv, withProxyNodeFlags } from './process-settings.js';
import { mergeSamples, sumTotals, type WorkerReports } from './sample-merge.js';
import { checkedPurge, createProxy, originTarget, type EdgeProxy, type ProxyConfig, type ProxyOptions } from './server.js';
import type { BlockedClient, CachePurge, ProxySample, ProxyTotals } from './types.js';

/** How long a worker may take to listen before it counts as failed. */
const START_TIMEOUT_MS = 15_000;
/** How long a worker being restarted may drain before it is killed (a busy loop cannot drain). */
const RESTART_DRAIN_MS = 5_000;
/** How long close() waits for workers to exit before killing them. */
const CLOSE_TIMEOUT_MS = 5_000;
/** How long purge() waits for the workers' answers. */
const PURGE_TIMEOUT_MS = 5_000;
/** A worker dying sooner than this after its start delays its replacement (doubling, up to the max). */
const CRASH_LOOP_MS = 2_000;
const MAX_REPLACE_DELAY_MS = 10_000;

export interface ClusterOptions extends Pick<ProxyOptions, 'log'> {
  /** pino level for the workers' own logs (default: the parent logger's level). */
  workerLogLevel?: string;
}

/** The number of workers `cfg.workers` means: 0 = one per core. */
export function workerCount(cfg: ProxyConfig): number {
  return cfg.workers === 0 ? availableParallelism() : cfg.workers;
}

/**
 * The proxy as configured: in this process when `proxy.workers` is 1, else on that many worker
 * processes (0 = one per core) with this process as the primary.
 */
export function launchProxy(cfg: ProxyConfig, opts: ClusterOptions = {}): Promise<EdgeProxy> {
  return workerCount(cfg) === 1 ? createProxy(cfg, opts) : createClusteredProxy(cfg, opts);
}

/** A port free on `host` right now. */
function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, host, () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

/** The worker program: next to this module when running from dist/, else the built one. */
function workerEntry(): string {
  const sibling = fileURLToPath(new URL('./worker.js', import.meta.url));
  if (existsSync(sibling)) return sibling;
  const built = join(packageRoot(), 'dist', 'proxy', 'worker.js');
  if (existsSync(built)) return built;
  throw new Error(`the proxy worker program ${built} is missing: run npm run build`);
}

/**
 * Starts `workerCount(cfg)` proxy workers on node:cluster sharing one port, and resolves once all
 * listen. The result is the instance's proxy as the governor sees it (ProxyControl): samples and
 * totals combine the workers' reports (see mergeSamples for how, busy included); readiness,
 * drain and purges fan out to every worker; the denylist lives here and is pushed to every
 * worker (new ones get the whole list). A worker that dies is replaced (counted as
 * GOV_ERR_PROXY_WORKER_EXITED; a crash loop is slowed down), and `restartWorker` replaces one on
 * purpose. The cache is per worker: a purge or an invalidation reaches them all.
 */
export async function createClusteredProxy(cfg: ProxyConfig, opts: ClusterOptions = {}): Promise<ClusteredProxy> {
  originTarget(cfg); // a bad origin or CA file fails here, with its code, rather than in every worker
  const proxy = new ClusteredProxy(cfg, workerCount(cfg), opts.log ?? pino({ level: 'silent' }), opts.workerLogLevel);
  await proxy.start();
  return proxy;
}

interface Member extends WorkerReports {
  worker: Worker;
  startedAt: number;
  listening: boolean;
  /** Being replaced on purpose: its exit is expected. */
  retiring: boolean;
}

interface Pending<T> {
  resolve(value: T): void;
  waiting: Set<number>;
  result: T;
}

export class ClusteredProxy implements EdgeProxy {
  url = '';
  port = 0;
  private ready = true;
  private draining = false;
  private closing = false;
  private readonly members = new Map<number, Member>();
  private readonly denylist: Denylist;
  /** Totals of workers that are gone, so that counters never go backwards. */
  private retired: ProxyTotals = sumTotals([]);
  private lastSampleAt = Date.now();
  private nextRequestId = 1;
  private readonly drains = new Map<number, Pending<{ completed: number; abandoned: number }>>();
  private readonly purges = new Map<number, Pending<{ purged: number }>>();
  private replaceDelayMs = 0;
  private readonly workerCfg: ProxyConfig;

  constructor(
    private readonly cfg: ProxyConfig,
    private readonly count: number,
    private readonly log: Logger,
    private readonly workerLogLevel: string | undefined,
  ) {
    this.denylist = new Denylist(cfg.limits.maxBlockedClients);
    this.workerCfg = { ...cfg };
  }

  async start(): Promise<void> {
    cluster.setupPrimary({ exec: workerEntry(), args: [], execArgv: withProxyNodeFlags(process.execArgv) });
    // Port 0: a free port chosen once, so that replacements bind the same one even if every worker died.
    if (this.workerCfg.port === 0) this.workerCfg.port = await freePort(this.cfg.host);
    await Promise.all(Array.from({ length: this.count }, () => this.fork()));
    this.port = this.workerCfg.port;
    const host = this.cfg.host.includes(':') ? `[${this.cfg.host}]` : this.cfg.host;
    this.url = `http://${host}:${this.port}`;
    this.log.info({ url: this.url, workers: this.count }, 'proxy workers listening');
  }

  sample(): ProxySample {
    const now = Date.now();
    const live = [...this.members.values()].filter((member) => member.listening);
    const sample = mergeSamples(live, now - this.lastSampleAt);
    this.lastSampleAt = now;
    for (const member of live) member.pending = [];
    return sample;
  }

  totals(): ProxyTotals {
    const live = [...this.members.values()].flatMap((member) => (member.latestTotals ? [member.latestTotals] : []));
    return sumTotals([this.retired, ...live]);
  }

  isReady(): boolean {
    return this.ready && [...this.members.values()].some((member) => member.listening && !member.retiring);
  }

  setReady(ready: boolean): void {
    this.ready = ready;
    this.broadcast({ t: 'ready', ready });
  }

  /** Drains every worker (each stops admitting); resolves with the sums once all are done or gone. */
  drain(deadlineMs: number): Promise<{ completed: number; abandoned: number }> {
    this.ready = false;
    this.draining = true;
    const targets = [...this.members.values()].filter((member) => !member.retiring);
    return this.request(this.drains, targets, { completed: 0, abandoned: 0 }, (id) => ({ t: 'drain', id, deadlineMs, exit: false }));
  }

  block(address: string, untilMs: number, reason: string): void {
    this.denylist.block(address, untilMs, reason);
    const entry = this.denylist.check(normalizeAddress(address));
    if (entry !== undefined) this.broadcast({ t: 'block', entry });
  }

  unblock(address: string): boolean {
    const was = this.denylist.unblock(address);
    this.broadcast({ t: 'unblock', address });
    return was;
  }

  blocked(): BlockedClient[] {
    return this.denylist.list();
  }

  replaceBlocked(entries: BlockedClient[]): void {
    this.denylist.replace(entries);
    this.broadcast({ t: 'denylist', entries: this.denylist.list() });
  }

  async purge(what: CachePurge): Promise<{ purged: number }> {
    const selector = checkedPurge(what);
    const targets = [...this.members.values()].filter((member) => member.listening);
    const done = this.request(this.purges, targets, { purged: 0 }, (id) => ({ t: 'purge', id, what: selector }));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<{ purged: number }>((resolve) => {
      timer = setTimeout(() => resolve({ purged: -1 }), PURGE_TIMEOUT_MS);
    });
    const result = await Promise.race([done, timeout]);
    clearTimeout(timer);
    if (result.purged === -1) throw new Error(`cache purge: not every worker answered within ${PURGE_TIMEOUT_MS} ms`);
    return result;
  }

  /** Replaces worker `id`: the new one listens first, then the old one drains briefly and exits (or is killed). */
  async restartWorker(id: number): Promise<{ replacedBy: number }> {
    const old = this.members.get(id);
    if (old === undefined || old.retiring) throw new RangeError(`restartWorker: no live proxy worker with id ${id}`);
    old.retiring = true;
    const replacement = await this.fork();
    this.log.warn({ worker: id, pid: old.pid, replacedBy: replacement.id }, 'proxy worker restarted on purpose');
    this.retire(old, RESTART_DRAIN_MS);
    return { replacedBy: replacement.id };
  }

  /** Workers by id (for tests and operators). */
  workerIds(): number[] {
    return [...this.members.keys()];
  }

  async close(): Promise<void> {
    this.closing = true;
    this.ready = false;
    await Promise.all(
      [...this.members.values()].map(
        (member) =>
          new Promise<void>((resolve) => {
            const kill = setTimeout(() => member.worker.process.kill('SIGKILL'), CLOSE_TIMEOUT_MS);
            member.worker.once('exit', () => {
              clearTimeout(kill);
              resolve();
            });
            if (member.worker.isConnected()) member.worker.send({ t: 'close' } satisfies ToWorker);
            else member.worker.process.kill('SIGTERM');
          }),
      ),
    );
  }

  /** Starts a worker and resolves when it listens; rejects if it fails or does not listen in time. */
  private fork(): Promise<{ id: number; port: number }> {
    const env = { ...proxyProcessEnv(), [WORKER_CONFIG_ENV]: JSON.stringify(this.workerCfg), [WORKER_LOG_LEVEL_ENV]: this.workerLogLevel ?? this.log.level };
    const worker = cluster.fork(env);
    const member: Member = {
      id: worker.id,
      pid: worker.process.pid ?? 0,
      worker,
      startedAt: Date.now(),
      listening: false,
      retiring: false,
      pending: [],
    };
    this.members.set(worker.id, member);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        worker.process.kill('SIGKILL');
        reject(new Error(`proxy worker ${worker.id} did not listen within ${START_TIMEOUT_MS} ms`));
      }, START_TIMEOUT_MS);
      worker.on('message', (message: FromWorker) => {
        if (message.t === 'listening') {
          clearTimeout(timer);
          member.listening = true;
          worker.send({ t: 'denylist', entries: this.denylist.list() } satisfies ToWorker);
          if (!this.ready) worker.send({ t: 'ready', ready: false } satisfies ToWorker);
          resolve({ id: worker.id, port: message.port });
        } else if (message.t === 'failed') {
          clearTimeout(timer);
          reject(new Error(`proxy worker ${worker.id} failed to start: ${message.message}`));
        } else {
          this.onMessage(member, message);
        }
      });
      worker.on('exit', (code, signal) => {
        clearTimeout(timer);
        this.onExit(member, code, signal);
        if (!member.listening) reject(new Error(`proxy worker ${worker.id} exited (${signal ?? code}) before listening`));
      });
      worker.on('error', (err) => this.log.debug({ err, worker: worker.id }, 'proxy worker IPC error'));
    });
  }

  private onMessage(member: Member, message: FromWorker): void {
    switch (message.t) {
      case 'report':
        member.pending.push(message.sample);
        member.latest = message.sample;
        member.latestTotals = message.totals;
        member.rssBytes = message.rssBytes;
        return;
      case 'drained':
        return this.settle(this.drains, message.id, member.id, (sum) => ({
          completed: sum.completed + message.completed,
          abandoned: sum.abandoned + message.abandoned,
        }));
      case 'purged':
        return this.settle(this.purges, message.id, member.id, (sum) => ({ purged: sum.purged + message.purged }));
      case 'invalidate':
        for (const other of this.members.values()) {
          if (other !== member && other.listening) other.worker.send({ t: 'purge', what: { url: message.key } } satisfies ToWorker);
        }
        return;
    }
  }

  private onExit(member: Member, code: number | null, signal: string | null): void {
    this.members.delete(member.id);
    if (member.latestTotals !== undefined) this.retired = sumTotals([this.retired, withoutGauges(member.latestTotals)]);
    this.forget(this.drains, member.id);
    this.forget(this.purges, member.id);
    if (this.closing || member.retiring || this.draining) return;
    this.retired.errors.GOV_ERR_PROXY_WORKER_EXITED = (this.retired.errors.GOV_ERR_PROXY_WORKER_EXITED ?? 0) + 1;
    const crashLoop = Date.now() - member.startedAt < CRASH_LOOP_MS;
    this.replaceDelayMs = crashLoop ? Math.min(MAX_REPLACE_DELAY_MS, Math.max(100, this.replaceDelayMs * 2)) : 0;
    this.log.error({ worker: member.id, pid: member.pid, code, signal, replaceInMs: this.replaceDelayMs }, 'proxy worker exited; replacing it');
    setTimeout(() => {
      if (this.closing || this.draining) return;
      this.fork().catch((err: unknown) => this.log.error({ err }, 'proxy worker replacement failed'));
    }, this.replaceDelayMs).unref();
  }

  /** Asks the old worker to drain and exit, and kills it if it has not after `drainMs` (and a second more). */
  private retire(member: Member, drainMs: number): void {
    const kill = setTimeout(() => member.worker.process.kill('SIGKILL'), drainMs + 1_000);
    member.worker.once('exit', () => clearTimeout(kill));
    if (member.worker.isConnected()) member.worker.send({ t: 'drain', id: 0, deadlineMs: drainMs, exit: true } satisfies ToWorker);
  }

  private broadcast(message: ToWorker): void {
    for (const member of this.members.values()) if (member.listening && member.worker.isConnected()) member.worker.send(message);
  }

  /** Sends `message(id)` to every target and resolves with the combined replies once all answered or exited. */
  private request<T>(table: Map<number, Pending<T>>, targets: Member[], initial: T, message: (id: number) => ToWorker): Promise<T> {
    if (targets.length === 0) return Promise.resolve(initial);
    const id = this.nextRequestId++;
    return new Promise((resolve) => {
      table.set(id, { resolve, waiting: new Set(targets.map((member) => member.id)), result: initial });
      for (const member of targets) member.worker.send(message(id));
    });
  }

  private settle<T>(table: Map<number, Pending<T>>, id: number, workerId: number, add: (sum: T) => T): void {
    const pending = table.get(id);
    if (pending === undefined || !pending.waiting.delete(workerId)) return;
    pending.result = add(pending.result);
    if (pending.waiting.size === 0) this.finish(table, id);
  }

  /** A worker that exited answers nothing more: requests waiting only on it are done. */
  private forget<T>(table: Map<number, Pending<T>>, workerId: number): void {
    for (const [id, pending] of table) if (pending.waiting.delete(workerId) && pending.waiting.size === 0) this.finish(table, id);
  }

  private finish<T>(table: Map<number, Pending<T>>, id: number): void {
    const pending = table.get(id);
    table.delete(id);
    pending?.resolve(pending.result);
  }
}

/** A retired worker's totals without what no longer exists (its cache's size, its circuit). */
function withoutGauges(totals: ProxyTotals): ProxyTotals {
  const copy: ProxyTotals = { ...totals, errors: { ...totals.errors } };
  if (copy.cache) copy.cache = { ...copy.cache, bytes: 0, entries: 0 };
  if (copy.origin) copy.origin = { ...copy.origin, circuit: 'closed' };
  return copy;
}
