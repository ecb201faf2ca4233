import type { Clock } from '../../governor/clock.js';
import { Denylist } from '../../proxy/denylist.js';
import type { BlockedClient } from '../../proxy/types.js';
import { FakeProxy } from './fake-proxy.js';

/**
 * A FakeProxy with the optional controls of a proxy that runs workers and a denylist: blocks go
 * into the proxy's real Denylist (same validation, expiry by the test's clock) and every call is
 * recorded; restartWorker replaces a worker listed in the current sample with a new id, or
 * rejects for an id the sample does not list (or with `restartFailure`).
 */
export class FakeProxyWithControls extends FakeProxy {
  readonly denylist: Denylist;
  readonly blockCalls: BlockedClient[] = [];
  readonly unblockCalls: string[] = [];
  readonly restartCalls: number[] = [];
  restartFailure: Error | undefined;
  private nextWorkerId = 100;

  constructor(clock: Clock) {
    super();
    this.denylist = new Denylist(1000, () => clock.now());
  }

  block(address: string, untilMs: number, reason: string): void {
    this.denylist.block(address, untilMs, reason);
    this.blockCalls.push({ address, untilMs, reason });
  }
  unblock(address: string): boolean {
    this.unblockCalls.push(address);
    return this.denylist.unblock(address);
  }
  blocked(): BlockedClient[] {
    return this.denylist.list();
  }
  /** Whether `address` is refused now. */
  isBlocked(address: string): boolean {
    return this.denylist.check(address) !== undefined;
  }
  restartWorker(id: number): Promise<{ replacedBy: number }> {
    this.restartCalls.push(id);
    if (this.restartFailure) return Promise.reject(this.restartFailure);
    if (!this.next.workers?.some((w) => w.id === id)) return Promise.reject(new RangeError(`no worker ${id}`));
    return Promise.resolve({ replacedBy: this.nextWorkerId++ });
  }
}
