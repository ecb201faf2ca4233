// Preloaded into a process under test (`node --import <this file's URL> ...`; node:cluster
// workers inherit it): every TCP connection, plain or TLS, must go to the loopback range.
// Any other is never opened: the socket fails with ECONNREFUSED, and a line starting with
// 'loopback-guard: refused' (GUARD_MARK in bundle-boot.ts) names the target on stderr, for the
// test to assert that nothing tried. It exports nothing: importing it installs it.
import net from 'node:net';

const GUARD_MARK = 'loopback-guard: refused';

const connect = net.Socket.prototype.connect;

function isLoopback(host) {
  return host === 'localhost' || host === '::1' || /^(::ffff:)?127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** Host and port of a connect() call in any of its forms; undefined for a pipe path (net's rule: a truthy `path`). */
function targetOf(args) {
  const first = Array.isArray(args[0]) ? args[0][0] : args[0];
  if (first !== null && typeof first === 'object') return first.path ? undefined : { host: first.host ?? 'localhost', port: first.port };
  if (typeof first === 'string' && !/^\d+$/.test(first)) return undefined;
  return { host: typeof args[1] === 'string' ? args[1] : 'localhost', port: first };
}

net.Socket.prototype.connect = function guardedConnect(...args) {
  const target = targetOf(args);
  if (target && !isLoopback(String(target.host))) {
    process.stderr.write(`${GUARD_MARK} ${target.host}:${target.port}\n`);
    const error = Object.assign(new Error(`loopback guard: connection to ${target.host}:${target.port} refused`), { code: 'ECONNREFUSED' });
    process.nextTick(() => this.destroy(error));
    return this;
  }
  return connect.apply(this, args);
};
