import { GovError } from '../errors.js';
import type { Cloud } from './port.js';

export type CloudMethod = keyof Cloud;
/** 'error' rejects with GOV_ERR_CLOUD_UNAVAILABLE, 'throttle' with GOV_ERR_CLOUD_THROTTLED. */
export type FailureKind = 'error' | 'throttle';

/**
 * Failures a test or simulation asks an adapter to produce. Contract: the adapter calls
 * `check(method)` first in every call, before any side effect, so a failed call changes
 * nothing. Queued failures (`failNext`) are used before the random rate is consulted. One
 * injector may be shared by several adapters (a region-wide outage).
 */
export class FailureInjector {
  private readonly queued = new Map<CloudMethod, FailureKind[]>();
  private rate = 0;
  private rateKind: FailureKind = 'error';
  private rng: () => number = Math.random;

  /** The next `count` calls of `method` fail with `kind`. */
  failNext(method: CloudMethod, count = 1, kind: FailureKind = 'error'): void {
    if (!Number.isInteger(count) || count < 1) throw new RangeError(`failNext count must be a positive integer; got ${count}`);
    const queue = this.queued.get(method) ?? [];
    for (let i = 0; i < count; i++) queue.push(kind);
    this.queued.set(method, queue);
  }

  /** Every call fails with probability `rate` (0 turns it off), drawn from `rng` (0 <= rng() < 1). */
  setFailureRate(rate: number, rng: () => number = Math.random, kind: FailureKind = 'error'): void {
    if (!(rate >= 0 && rate <= 1)) throw new RangeError(`failure rate must be within [0, 1]; got ${rate}`);
    this.rate = rate;
    this.rng = rng;
    this.rateKind = kind;
  }

  /** Drops queued failures and turns the rate off. */
  reset(): void {
    this.queued.clear();
    this.rate = 0;
  }

  /** Throws the failure injected for this call of `method`, if any. */
  check(method: CloudMethod): void {
    const kind = this.queued.get(method)?.shift() ?? (this.rate > 0 && this.rng() < this.rate ? this.rateKind : undefined);
    if (kind === undefined) return;
    const details = { method, injected: true };
    throw kind === 'throttle'
      ? new GovError('GOV_ERR_CLOUD_THROTTLED', `${method}: request throttled (injected failure)`, details)
      : new GovError('GOV_ERR_CLOUD_UNAVAILABLE', `${method}: cloud unavailable (injected failure)`, details);
  }
}
