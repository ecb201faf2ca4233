import type { IncomingHttpHeaders } from 'node:http';
import { LRUCache } from 'lru-cache';
import { varyMatches, type CacheEntry } from './cache-entry.js';
import type { CachePurge, CacheSample } from './types.js';

/** Stored variants (Vary) of one URL at most; storing one more drops the oldest. */
export const MAX_VARIANTS = 8;
/** URLs remembered as not storable at most, and for how long (hit-for-pass). */
const MAX_PASS_KEYS = 10_000;
const PASS_TTL_MS = 10_000;

/** The variants of one URL; a new object on every change (the LRU sizes values when they are set). */
interface Variants {
  entries: CacheEntry[];
  size: number;
}

export interface StoreLimits {
  maxBytes: number;
  maxEntryBytes: number;
}

type Counts = Omit<CacheSample, 'bytes' | 'entries'>;

function noCounts(): Counts {
  return { hits: 0, misses: 0, revalidated: 0, stored: 0, evictions: 0 };
}

/**
 * Stored responses keyed by URL (path and query: the proxy has one origin), least recently used
 * first out within `maxBytes` (bodies plus headers), each entry at most `maxEntryBytes` of body.
 * Also remembers, for a while, URLs whose latest response could not be stored, so that their
 * requests skip coalescing (Varnish's hit-for-pass). Counts hits, misses and evictions.
 */
export class CacheStore {
  private readonly lru: LRUCache<string, Variants>;
  private readonly pass = new LRUCache<string, true>({ max: MAX_PASS_KEYS, ttl: PASS_TTL_MS });
  private entryCount = 0;
  private interval = noCounts();
  private readonly total = noCounts();

  constructor(private readonly limits: StoreLimits) {
    this.lru = new LRUCache<string, Variants>({
      maxSize: Math.max(1, limits.maxBytes),
      sizeCalculation: (variants) => Math.max(1, variants.size),
      dispose: (variants, _key, reason) => {
        this.entryCount -= variants.entries.length;
        if (reason === 'evict') this.count('evictions', variants.entries.length);
      },
    });
  }

  /** The stored variant of `key` that `requestHeaders` select (Vary), if any; marks it recently used. */
  lookup(key: string, requestHeaders: IncomingHttpHeaders): CacheEntry | undefined {
    const variants = this.lru.get(key);
    if (variants === undefined) return undefined;
    for (const entry of variants.entries) if (varyMatches(entry, requestHeaders)) return entry;
    return undefined;
  }

  /** Whether a body of `bytes` may be stored at all. */
  fits(bytes: number): boolean {
    return bytes <= this.limits.maxEntryBytes && bytes < this.limits.maxBytes;
  }

  /** Stores `entry`, replacing the variant with the same Vary values; clears a pass mark. */
  store(entry: CacheEntry): void {
    if (!this.fits(entry.body.length)) return;
    this.pass.delete(entry.key);
    const current = this.lru.peek(entry.key)?.entries ?? [];
    const others = current.filter((old) => !sameVariant(old, entry)).slice(-(MAX_VARIANTS - 1));
    const entries = [...others, entry];
    this.lru.set(entry.key, { entries, size: entries.reduce((sum, one) => sum + one.size, 0) });
    if (this.lru.peek(entry.key)?.entries === entries) this.entryCount += entries.length;
    this.count('stored');
  }

  /** Removes `entry` (one variant) if it is still stored. */
  remove(entry: CacheEntry): void {
    const current = this.lru.peek(entry.key);
    if (current === undefined || !current.entries.includes(entry)) return;
    const entries = current.entries.filter((one) => one !== entry);
    if (entries.length === 0) {
      this.lru.delete(entry.key);
      return;
    }
    this.lru.set(entry.key, { entries, size: entries.reduce((sum, one) => sum + one.size, 0) });
    this.entryCount += entries.length;
  }

  /** Removes every variant of `key` (an unsafe method succeeded on it); how many were removed. */
  invalidate(key: string): number {
    const variants = this.lru.peek(key);
    if (variants === undefined) return 0;
    this.lru.delete(key);
    return variants.entries.length;
  }

  /** Removes what `what` selects; how many entries were removed. */
  purge(what: CachePurge): number {
    if ('all' in what) {
      const removed = this.entryCount;
      this.lru.clear();
      this.pass.clear();
      return removed;
    }
    if ('url' in what) return this.invalidate(what.url);
    let removed = 0;
    for (const key of [...this.lru.keys()]) if (key.startsWith(what.prefix)) removed += this.invalidate(key);
    return removed;
  }

  /** Remembers that `key`'s latest response could not be stored. */
  markPass(key: string): void {
    this.pass.set(key, true);
  }

  isPass(key: string): boolean {
    return this.pass.get(key) === true;
  }

  count(what: keyof Counts, by = 1): void {
    this.interval[what] += by;
    this.total[what] += by;
  }

  /** Counts since the previous call, and the store's size now. */
  sample(): CacheSample {
    const counts = this.interval;
    this.interval = noCounts();
    return { ...counts, bytes: this.lru.calculatedSize, entries: this.entryCount };
  }

  /** Counts since start, and the store's size now. */
  totals(): CacheSample {
    return { ...this.total, bytes: this.lru.calculatedSize, entries: this.entryCount };
  }
}

function sameVariant(a: CacheEntry, b: CacheEntry): boolean {
  if (a.vary.length !== b.vary.length) return false;
  return a.vary.every(([name, value], i) => b.vary[i][0] === name && b.vary[i][1] === value);
}
