import { isIP } from 'node:net';
import type { BlockedClient } from './types.js';

/**
 * Client addresses refused until an expiry, in bounded memory: at most `maxEntries`; blocking one
 * more when full first drops expired entries, then the entry that expires soonest. Checking an
 * address is one Map lookup (none at all while the list is empty). Addresses are compared as the
 * proxy writes them (IPv4-mapped IPv6 as plain IPv4).
 */
export class Denylist {
  private readonly entries = new Map<string, BlockedClient>();

  constructor(
    private readonly maxEntries: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Blocks `address` until `untilMs` (epoch ms); blocking it again replaces the entry. */
  block(address: string, untilMs: number, reason: string): void {
    const entry = checkedEntry(address, untilMs, reason);
    if (entry.untilMs <= this.now()) {
      this.entries.delete(entry.address);
      return;
    }
    this.entries.delete(entry.address);
    if (this.entries.size >= this.maxEntries) this.makeRoom();
    this.entries.set(entry.address, entry);
  }

  /** Whether `address` was blocked (and is no longer). */
  unblock(address: string): boolean {
    return this.entries.delete(normalizeAddress(address));
  }

  /** The entry blocking `address` now, if any (an expired one is dropped). */
  check(address: string): BlockedClient | undefined {
    if (this.entries.size === 0) return undefined;
    const entry = this.entries.get(address);
    if (entry === undefined) return undefined;
    if (entry.untilMs > this.now()) return entry;
    this.entries.delete(address);
    return undefined;
  }

  /** Entries in force, soonest expiry first. */
  list(): BlockedClient[] {
    this.dropExpired();
    return [...this.entries.values()].sort((a, b) => a.untilMs - b.untilMs).map((entry) => ({ ...entry }));
  }

  /** Replaces the whole list (a worker receiving the primary's list). */
  replace(entries: BlockedClient[]): void {
    this.entries.clear();
    for (const entry of entries) this.block(entry.address, entry.untilMs, entry.reason);
  }

  get size(): number {
    return this.entries.size;
  }

  private dropExpired(): void {
    const now = this.now();
    for (const [address, entry] of this.entries) if (entry.untilMs <= now) this.entries.delete(address);
  }

  private makeRoom(): void {
    this.dropExpired();
    if (this.entries.size < this.maxEntries) return;
    let soonest: BlockedClient | undefined;
    for (const entry of this.entries.values()) if (soonest === undefined || entry.untilMs < soonest.untilMs) soonest = entry;
    if (soonest) this.entries.delete(soonest.address);
  }
}

/** IPv4-mapped IPv6 written as plain IPv4, as the proxy sees client addresses. */
export function normalizeAddress(address: string): string {
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}

const MAX_REASON_LENGTH = 200;

function checkedEntry(address: string, untilMs: number, reason: string): BlockedClient {
  const normalized = typeof address === 'string' ? normalizeAddress(address.trim()) : '';
  if (isIP(normalized) === 0) throw new RangeError(`block: address ${JSON.stringify(address)}: expected an IPv4 or IPv6 address`);
  if (!Number.isFinite(untilMs)) throw new RangeError(`block: untilMs ${String(untilMs)}: expected epoch milliseconds`);
  return { address: normalized, untilMs, reason: String(reason).slice(0, MAX_REASON_LENGTH) };
}
