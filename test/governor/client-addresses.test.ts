import { describe, expect, it } from 'vitest';
import { isBlockableAddress, isLoopbackAddress, plainAddress } from '../../governor/client-addresses.js';

describe('client addresses the denial-of-service rule may act on', () => {
  it('treats 127.0.0.0/8 and ::1 as loopback, in IPv4-mapped form too', () => {
    for (const a of ['127.0.0.1', '127.255.0.9', '::1', '::ffff:127.0.0.1']) expect(isLoopbackAddress(a), a).toBe(true);
    for (const a of ['10.0.0.1', '128.0.0.1', '2001:db8::1', '::ffff:10.0.0.1', 'unknown', '']) expect(isLoopbackAddress(a), a).toBe(false);
  });

  it('blocks only IP addresses outside loopback', () => {
    for (const a of ['203.0.113.9', '2001:db8::7', '::ffff:198.51.100.1']) expect(isBlockableAddress(a), a).toBe(true);
    for (const a of ['127.0.0.1', '::1', 'unknown', '10.0.0.1:80', 'example.com']) expect(isBlockableAddress(a), a).toBe(false);
  });

  it('writes IPv4-mapped IPv6 as plain IPv4, as the proxy does', () => {
    expect(plainAddress('::ffff:10.0.0.1')).toBe('10.0.0.1');
    expect(plainAddress('2001:db8::1')).toBe('2001:db8::1');
  });
});
