import { describe, expect, it } from 'vitest';
import { CircuitBreaker } from '../../proxy/breaker.js';
import { Denylist } from '../../proxy/denylist.js';
import { RetryBudget } from '../../proxy/retry-budget.js';

/** A clock the test moves. */
function manualClock(start = 1_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

describe('circuit breaker', () => {
  const settings = { enabled: true, failures: 3, cooldownMs: 1_000, maxCooldownMs: 4_000 };

  it('opens after consecutive failures, fails fast while open, and lets one probe through after the cooldown', () => {
    const clock = manualClock();
    const breaker = new CircuitBreaker(settings, clock.now);
    breaker.tryAcquire()?.failed();
    breaker.tryAcquire()?.succeeded(); // a success resets the count
    for (let i = 0; i < 3; i++) breaker.tryAcquire()?.failed();

    expect(breaker.state).toBe('open');
    expect(breaker.tryAcquire()).toBeUndefined();
    expect(breaker.retryAfterMs()).toBe(1_000);
    clock.advance(1_000);
    const probe = breaker.tryAcquire();
    expect(probe).toBeDefined();
    expect(breaker.tryAcquire()).toBeUndefined(); // one probe at a time
    probe?.succeeded();
    expect(breaker.state).toBe('closed');
    expect(breaker.opened).toBe(1);
  });

  it('doubles the cooldown after each failed probe, up to maxCooldownMs, and resets it on success', () => {
    const clock = manualClock();
    const breaker = new CircuitBreaker(settings, clock.now);
    for (let i = 0; i < 3; i++) breaker.tryAcquire()?.failed();
    const cooldowns: number[] = [];
    for (let i = 0; i < 4; i++) {
      cooldowns.push(breaker.retryAfterMs());
      clock.advance(breaker.retryAfterMs());
      breaker.tryAcquire()?.failed();
    }
    expect(cooldowns).toEqual([1_000, 2_000, 4_000, 4_000]);
    clock.advance(breaker.retryAfterMs());
    breaker.tryAcquire()?.succeeded();
    for (let i = 0; i < 3; i++) breaker.tryAcquire()?.failed();
    expect(breaker.retryAfterMs()).toBe(1_000);
  });

  it('gives the probe slot back when its outcome is unknown', () => {
    const clock = manualClock();
    const breaker = new CircuitBreaker(settings, clock.now);
    for (let i = 0; i < 3; i++) breaker.tryAcquire()?.failed();
    clock.advance(1_000);
    breaker.tryAcquire()?.abandoned();
    expect(breaker.tryAcquire()).toBeDefined();
  });

  it('never opens when disabled', () => {
    const breaker = new CircuitBreaker({ ...settings, enabled: false });
    for (let i = 0; i < 10; i++) breaker.tryAcquire()?.failed();
    expect(breaker.tryAcquire()).toBeDefined();
    expect(breaker.state).toBe('closed');
  });
});

describe('retry budget', () => {
  it('allows retries up to ratio x requests plus minPerSecond x window, within the window', () => {
    const clock = manualClock();
    const budget = new RetryBudget({ ratio: 0.2, minPerSecond: 1, windowMs: 10_000 }, clock.now);
    for (let i = 0; i < 100; i++) budget.recordRequest();

    let allowed = 0;
    for (let i = 0; i < 100; i++) if (budget.tryRetry()) allowed++;

    expect(allowed).toBe(30); // 0.2 x 100 + 1/s x 10 s
    expect(budget.counts()).toEqual({ retried: 30, refused: 70 });
    clock.advance(10_000); // the window has passed: only the floor remains
    let later = 0;
    for (let i = 0; i < 100; i++) if (budget.tryRetry()) later++;
    expect(later).toBe(10);
  });

  it('with ratio 0 and no floor, never retries', () => {
    const budget = new RetryBudget({ ratio: 0, minPerSecond: 0, windowMs: 10_000 });
    budget.recordRequest();
    expect(budget.tryRetry()).toBe(false);
  });
});

describe('denylist', () => {
  it('blocks until expiry, lists soonest first, and unblocks', () => {
    const clock = manualClock();
    const list = new Denylist(10, clock.now);
    list.block('203.0.113.7', clock.now() + 1_000, 'flood');
    list.block('::ffff:198.51.100.1', clock.now() + 500, 'scan');

    expect(list.check('203.0.113.7')?.reason).toBe('flood');
    expect(list.list().map((entry) => entry.address)).toEqual(['198.51.100.1', '203.0.113.7']);
    clock.advance(600);
    expect(list.check('198.51.100.1')).toBeUndefined();
    expect(list.unblock('203.0.113.7')).toBe(true);
    expect(list.size).toBe(0);
  });

  it('stays within maxEntries by dropping the entry that expires first', () => {
    const clock = manualClock();
    const list = new Denylist(3, clock.now);
    for (let i = 1; i <= 5; i++) list.block(`192.0.2.${i}`, clock.now() + i * 1_000, 'x');
    expect(list.list().map((entry) => entry.address)).toEqual(['192.0.2.3', '192.0.2.4', '192.0.2.5']);
  });

  it('rejects what is not an IP address or an expiry', () => {
    const list = new Denylist(3);
    expect(() => list.block('not an ip', Date.now() + 1_000, 'x')).toThrow(RangeError);
    expect(() => list.block('192.0.2.1', Number.NaN, 'x')).toThrow(RangeError);
  });
});
