import type { BlockedClient, CachePurge, ProxySample, ProxyTotals } from './types.js';

/** The environment variable carrying a worker's proxy config (JSON). */
export const WORKER_CONFIG_ENV = 'GOVERNOR_PROXY_WORKER_CONFIG';
/** The environment variable carrying a worker's log level. */
export const WORKER_LOG_LEVEL_ENV = 'GOVERNOR_PROXY_WORKER_LOG_LEVEL';
/** How often a worker reports its interval sample and totals to the primary. */
export const REPORT_INTERVAL_MS = 1_000;

/** From the primary to a worker. `id` pairs a request with its reply. */
export type ToWorker =
  | { t: 'ready'; ready: boolean }
  | { t: 'drain'; id: number; deadlineMs: number; exit: boolean }
  | { t: 'denylist'; entries: BlockedClient[] }
  | { t: 'block'; entry: BlockedClient }
  | { t: 'unblock'; address: string }
  | { t: 'purge'; id?: number; what: CachePurge }
  | { t: 'close' };

/** From a worker to the primary. */
export type FromWorker =
  | { t: 'listening'; port: number }
  | { t: 'failed'; message: string }
  | { t: 'report'; sample: ProxySample; totals: ProxyTotals; rssBytes: number }
  | { t: 'drained'; id: number; completed: number; abandoned: number }
  | { t: 'purged'; id: number; purged: number }
  | { t: 'invalidate'; key: string };
