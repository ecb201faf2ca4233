import { BlockList, isIP } from 'node:net';
import { normalizeAddress } from './denylist.js';

/**
 * The load balancers in front of the proxy whose `X-Forwarded-For` is believed
 * (`proxy.trustedProxies`): IP addresses and CIDR blocks, IPv4 or IPv6.
 */
export class TrustedProxies {
  private readonly list = new BlockList();
  readonly size: number;

  /** Throws RangeError naming the first entry that is not an IP address or a CIDR block. */
  constructor(entries: readonly string[]) {
    for (const entry of entries) addEntry(this.list, entry);
    this.size = entries.length;
  }

  /** Whether `address` (as the proxy writes it) is one of the trusted proxies. */
  trusts(address: string): boolean {
    const family = isIP(address);
    return family !== 0 && this.list.check(address, family === 4 ? 'ipv4' : 'ipv6');
  }

  /**
   * The client address of a request that arrived over a connection from `peer` with
   * `forwardedFor` (its X-Forwarded-For header): `peer` itself unless `peer` is trusted; else the
   * right-most X-Forwarded-For entry that is not trusted, read from the right (each trusted hop
   * appended the address it received the request from, so entries left of the first untrusted
   * one may be forged by the client). An entry that is not an IP address ends the walk at the
   * hop before it; when every entry is trusted, the left-most one.
   */
  clientAddress(peer: string, forwardedFor: string | string[] | undefined): string {
    if (this.size === 0 || forwardedFor === undefined || !this.trusts(peer)) return peer;
    const hops = (Array.isArray(forwardedFor) ? forwardedFor.join(',') : forwardedFor).split(',');
    let client = peer;
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = hopAddress(hops[i]);
      if (hop === undefined) return client;
      client = hop;
      if (!this.trusts(hop)) return hop;
    }
    return client;
  }
}

/** An X-Forwarded-For entry as an address: trimmed, IPv4-mapped IPv6 as IPv4, an IPv4 port or IPv6 brackets dropped; undefined when not an IP address. */
function hopAddress(entry: string): string | undefined {
  let text = entry.trim();
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(text);
  if (bracketed) text = bracketed[1];
  else if (/^\d+\.\d+\.\d+\.\d+:\d+$/.test(text)) text = text.slice(0, text.lastIndexOf(':'));
  const address = normalizeAddress(text);
  return isIP(address) === 0 ? undefined : address;
}

function addEntry(list: BlockList, entry: string): void {
  const bad = () => new RangeError(`trusted proxy ${JSON.stringify(entry)}: expected an IP address or a CIDR block such as 10.0.0.0/8 or fd00::/8`);
  if (typeof entry !== 'string') throw bad();
  const [address, prefix, extra] = entry.trim().split('/');
  const family = isIP(address);
  if (family === 0 || extra !== undefined) throw bad();
  const type = family === 4 ? 'ipv4' : 'ipv6';
  if (prefix === undefined) return list.addAddress(address, type);
  const bits = Number(prefix);
  if (!/^\d+$/.test(prefix) || bits > (family === 4 ? 32 : 128)) throw bad();
  list.addSubnet(address, bits, type);
}
