import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { VirtualClock } from '../../governor/virtual-clock.js';
import type { Cloud } from '../../governor/cloud/port.js';
import signals, { CACHE_KEYS } from '../../tasks/signals.js';
import { TaskHarness, testConfig } from './context.js';
import { FakeProxy, sampleOf } from './fake-proxy.js';

/** The signals task must not touch the cloud: every call fails the test. */
const noCloud = new Proxy({} as Cloud, {
  get: (_t, method) => () => Promise.reject(new Error(`signals called cloud.${String(method)}`)),
});

describe('signals task: cache keys', () => {
  let clock: VirtualClock;
  let proxy: FakeProxy;
  let h: TaskHarness;

  beforeEach(() => {
    clock = new VirtualClock();
    proxy = new FakeProxy();
    h = new TaskHarness({ clock, config: testConfig(), cloud: noCloud, proxy });
  });
  afterEach(() => clock.uninstall());

  it('writes hits, misses, hit ratio, bytes, entries and evictions of the interval', async () => {
    proxy.next = sampleOf({ cache: { hits: 30, misses: 10, revalidated: 2, stored: 4, evictions: 1, bytes: 4096, entries: 7 } });

    await h.run(signals);

    const bb = h.blackboard;
    expect([CACHE_KEYS.hits, CACHE_KEYS.misses, CACHE_KEYS.hitRatio, CACHE_KEYS.bytes, CACHE_KEYS.entries, CACHE_KEYS.evictions].map((key) => bb.get(key))).toEqual([
      30, 10, 0.75, 4096, 7, 1,
    ]);
  });

  it('gives a null hit ratio for an interval without GET or HEAD, and writes nothing without a cache', async () => {
    proxy.next = sampleOf({ cache: { hits: 0, misses: 0, revalidated: 0, stored: 0, evictions: 0, bytes: 0, entries: 0 } });
    await h.run(signals);
    expect(h.blackboard.get(CACHE_KEYS.hitRatio)).toBeNull();

    const other = new TaskHarness({ clock, config: testConfig(), cloud: noCloud, proxy: new FakeProxy() });
    await other.run(signals);
    expect(other.blackboard.has(CACHE_KEYS.hits)).toBe(false);
  });
});
