import { BlockList, isIP } from 'node:net';
import type { ProxySample } from '../proxy/types.js';

/**
 * Which client addresses the denial-of-service rule and its action may consider. The signals
 * task (the `clients.top3Share` series) and the block-clients task use the same definition, so
 * that the rule never fires over traffic its action would refuse to block.
 */

/** How many of the busiest addresses `clients.top3Share` adds up. */
export const TOP_SHARE_ADDRESSES = 3;

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** IPv4-mapped IPv6 written as plain IPv4, as the proxy reports and blocks addresses. */
export function plainAddress(address: string): string {
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}

/** Whether `address` is in 127.0.0.0/8 or is ::1 (IPv4-mapped forms included). */
export function isLoopbackAddress(address: string): boolean {
  const plain = plainAddress(address);
  const family = isIP(plain);
  return family !== 0 && LOOPBACK.check(plain, family === 4 ? 'ipv4' : 'ipv6');
}

/**
 * Whether `address` may be blocked: an IP address outside the loopback range. Loopback is never
 * a client to block: in the local region every request reaches the proxy from the front door on
 * 127.0.0.1, and blocking it would refuse every client at once.
 */
export function isBlockableAddress(address: string): boolean {
  return isIP(plainAddress(address)) !== 0 && !isLoopbackAddress(address);
}

/** The sample's busiest addresses that are blockable and not in `blocked`, busiest first. */
export function blockableClients(sample: ProxySample, blocked: ReadonlySet<string>): ProxySample['topClients'] {
  return sample.topClients.filter((c) => isBlockableAddress(c.address) && !blocked.has(plainAddress(c.address)));
}

/**
 * Fraction (0..1) of the sample's requests sent by its TOP_SHARE_ADDRESSES busiest blockable
 * addresses not already in `blocked`; 0 without requests. (The proxy's per-address counts may
 * overestimate, so the sum is capped at the request count.)
 */
export function topClientsShare(sample: ProxySample, blocked: ReadonlySet<string>): number {
  if (sample.requests <= 0) return 0;
  const top = blockableClients(sample, blocked).slice(0, TOP_SHARE_ADDRESSES);
  const sum = top.reduce((total, c) => total + c.requests, 0);
  return Math.min(1, sum / sample.requests);
}
