import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { VirtualClock } from '../../governor/virtual-clock.js';
import type { Cloud } from '../../governor/cloud/port.js';
import type { ConfigInput } from '../../governor/config.js';
import type { Intent } from '../../governor/facts.js';
import type { ProxyControl, ProxySample } from '../../proxy/types.js';
import blockClients, { addressesToBlock } from '../../tasks/block-clients.js';
import { SIGNAL_KEYS } from '../../tasks/signals.js';
import { TaskHarness, testConfig } from './context.js';
import { FakeProxy, sampleOf } from './fake-proxy.js';
import { FakeProxyWithControls } from './fake-proxy-controls.js';

/** The action task must not touch the cloud: every call fails the test. */
const noCloud = new Proxy({} as Cloud, {
  get: (_t, method) => () => Promise.reject(new Error(`block-clients called cloud.${String(method)}`)),
});

const FLOOD_FACTS = { 'window(clients.top3Share,avg,30s)': 0.95, 'window(rps,avg,30s)': 1000 };

/** A one-second sample of `requests` requests whose busiest senders are `clients` (address -> requests). */
function flood(requests: number, clients: Record<string, number>): ProxySample {
  const topClients = Object.entries(clients)
    .map(([address, n]) => ({ address, requests: n }))
    .sort((a, b) => b.requests - a.requests);
  return sampleOf({ requests, topClients });
}

describe('block-clients task', () => {
  let clock: VirtualClock;
  let proxy: FakeProxyWithControls;

  beforeEach(() => {
    clock = new VirtualClock();
    proxy = new FakeProxyWithControls(clock);
  });
  afterEach(() => clock.uninstall());

  /** A governor with proxy `p` (null: none). */
  function harness(p: ProxyControl | null = proxy, config: ConfigInput = {}): TaskHarness {
    return new TaskHarness({ clock, config: testConfig(config), cloud: noCloud, proxy: p ?? undefined });
  }
  function want(h: TaskHarness, params: Record<string, unknown> = { durationSeconds: 600, maxAddresses: 3, minShare: 0.1 }): void {
    const intent: Intent = { type: 'block-client', rule: 'denial-of-service', file: 'denial-of-service.json', params, facts: FLOOD_FACTS, at: clock.now() };
    h.blackboard.set('intents.block-client', intent);
  }
  const sample = (h: TaskHarness, s: ProxySample) => h.blackboard.set(SIGNAL_KEYS.sample, s);
  const codes = (h: TaskHarness) => h.entries('block-clients').map((e) => `${e.kind}:${String(e.data?.code ?? '')}`);

  it('runs every second within 900 ms, and is among the default tasks', () => {
    expect(blockClients).toMatchObject({ name: 'block-clients', schedule: '*/1 * * * * *', timeoutMs: 900 });
    expect(testConfig().tasks.modules).toContain('block-clients');
  });

  it('chooses among the busiest blockable addresses not yet blocked, up to maxAddresses, each over minShare', () => {
    const s = flood(1000, { '10.0.0.1': 400, '10.0.0.2': 300, '127.0.0.1': 200, '10.0.0.3': 60, '10.0.0.4': 40 });
    const pick = (blocked: string[], p: { maxAddresses: number; minShare: number }) => addressesToBlock(s, new Set(blocked), p).map((c) => c.address);
    expect(pick([], { maxAddresses: 3, minShare: 0.1 })).toEqual(['10.0.0.1', '10.0.0.2']); // 10.0.0.3 sent 6%
    expect(pick([], { maxAddresses: 1, minShare: 0.1 })).toEqual(['10.0.0.1']);
    expect(pick([], { maxAddresses: 4, minShare: 0.05 })).toEqual(['10.0.0.1', '10.0.0.2', '10.0.0.3']);
    expect(pick(['10.0.0.1'], { maxAddresses: 2, minShare: 0.05 })).toEqual(['10.0.0.2', '10.0.0.3']);
    expect(addressesToBlock(sampleOf(), new Set(), { maxAddresses: 3, minShare: 0 })).toEqual([]);
  });

  it('blocks the address carrying most of the traffic for durationSeconds and journals why', async () => {
    const h = harness();
    sample(h, flood(1000, { '203.0.113.9': 950, '198.51.100.1': 10, '198.51.100.2': 8 }));
    want(h, { durationSeconds: 120 });
    await h.run(blockClients);

    const until = clock.now() + 120_000;
    expect(proxy.blockCalls).toEqual([{ address: '203.0.113.9', untilMs: until, reason: 'denial of service: 95% of requests; rule denial-of-service' }]);
    expect(proxy.isBlocked('203.0.113.9')).toBe(true);
    expect(proxy.isBlocked('198.51.100.1')).toBe(false);
    const [entry] = h.entries('block-clients');
    expect(entry).toMatchObject({
      kind: 'action',
      reason: `blocked 203.0.113.9: it sent 950 of 1000 requests (95%) in the last second, until ${new Date(until).toISOString()} (120 s); rule 'denial-of-service' (denial-of-service.json)`,
      facts: { ...FLOOD_FACTS, address: '203.0.113.9', requests: 950, sampleRequests: 1000, share: 0.95 },
      data: { address: '203.0.113.9', untilMs: until, durationSeconds: 120, rule: 'denial-of-service', file: 'denial-of-service.json' },
    });
  });

  it('never blocks loopback or what is not an IP address, and says why it blocked nothing', async () => {
    const h = harness();
    sample(h, flood(1000, { '127.0.0.1': 700, '::1': 150, '::ffff:127.0.0.2': 100, unknown: 50 }));
    want(h);
    await h.run(blockClients);

    expect(proxy.blockCalls).toEqual([]);
    expect(codes(h)).toEqual(['suppressed:nothing-to-block']);
    expect(h.entries('block-clients')[0].reason).toBe(
      "no block: 127.0.0.1 is loopback (the proxy does not see the real client address); ::1 is loopback (the proxy does not see the real client address); ::ffff:127.0.0.2 is loopback (the proxy does not see the real client address); rule 'denial-of-service' (denial-of-service.json)",
    );
    sample(h, flood(1000, { unknown: 1000 }));
    await clock.advance(60_000);
    want(h);
    await h.run(blockClients);
    expect(h.entries('block-clients')[1].reason).toMatch(/^no block: unknown is not an IP address;/);
  });

  it('neither extends nor lifts a block in force, moves on to the next sender, and blocks again after expiry', async () => {
    const h = harness();
    want(h, { durationSeconds: 60 });
    sample(h, flood(1000, { '203.0.113.9': 900, '198.51.100.7': 50 }));
    await h.run(blockClients);
    const first = proxy.blockCalls[0];

    // the intent stays current while the blocked address keeps sending: nothing more to block
    for (let s = 1; s <= 30; s++) {
      await clock.advance(1000);
      want(h, { durationSeconds: 60 });
      await h.run(blockClients);
    }
    expect(proxy.blockCalls).toEqual([first]);
    expect(proxy.unblockCalls).toEqual([]);
    expect(codes(h)).toEqual(['action:', 'suppressed:nothing-to-block']);
    expect(h.entries('block-clients')[1].reason).toMatch(/^no block: 203.0.113.9 is already blocked; 198.51.100.7 sent 5% \(< 10%\);/);

    // a second sender takes over
    sample(h, flood(1000, { '203.0.113.9': 500, '198.51.100.7': 450 }));
    await h.run(blockClients);
    expect(proxy.blockCalls.map((b) => b.address)).toEqual(['203.0.113.9', '198.51.100.7']);

    // the first block expires while the flood goes on: blocked again, for a new period
    await clock.advance(30_000);
    want(h, { durationSeconds: 60 });
    await h.run(blockClients);
    expect(proxy.blockCalls.map((b) => b.address)).toEqual(['203.0.113.9', '198.51.100.7', '203.0.113.9']);
    expect(proxy.blockCalls[2].untilMs).toBe(clock.now() + 60_000);
  });

  it('journals that blocking is unavailable without a denylist or without a proxy', async () => {
    const noDenylist = harness(new FakeProxy());
    sample(noDenylist, flood(1000, { '203.0.113.9': 950 }));
    want(noDenylist);
    await noDenylist.run(blockClients);
    await noDenylist.run(blockClients);
    expect(noDenylist.entries('block-clients').map((e) => e.reason)).toEqual([
      "no block: blocking is unavailable: the proxy has no denylist; rule 'denial-of-service' (denial-of-service.json)",
    ]);

    const none = harness(null);
    want(none);
    await none.run(blockClients);
    expect(none.entries('block-clients')[0].reason).toMatch(/^no block: blocking is unavailable: no proxy in this governor;/);
  });

  it('does nothing without a current intent', async () => {
    const h = harness();
    sample(h, flood(1000, { '203.0.113.9': 950 }));
    await h.run(blockClients);
    want(h);
    await clock.advance(31_000);
    await h.run(blockClients);
    expect(proxy.blockCalls).toEqual([]);
    expect(h.entries('block-clients')).toEqual([]);
  });

  it('rejects bad event params and blocks nothing', async () => {
    const h = harness();
    sample(h, flood(1000, { '203.0.113.9': 950 }));
    want(h, { durationSeconds: 0.5, maxAddresses: '3' });
    await h.run(blockClients);

    expect(proxy.blockCalls).toEqual([]);
    expect(h.entries('block-clients')).toEqual([
      expect.objectContaining({
        kind: 'error',
        reason:
          "not acting: rule 'denial-of-service' (denial-of-service.json), event block-client: 'durationSeconds' is 0.5: expected an integer from 1 to 86400 (seconds); 'maxAddresses' is \"3\": expected an integer from 1 to 100 (addresses)",
      }),
    ]);
  });

  it('in dry-run mode journals the block it would make and blocks nothing', async () => {
    const h = harness(proxy, { scaling: { dryRun: true } });
    sample(h, flood(1000, { '203.0.113.9': 950 }));
    want(h);
    await h.run(blockClients);
    await h.run(blockClients);

    expect(proxy.blockCalls).toEqual([]);
    expect(h.entries('block-clients')).toEqual([
      expect.objectContaining({ kind: 'action', reason: expect.stringMatching(/^dry run, not blocking 203.0.113.9: it sent 950 of 1000/), data: { code: 'dry-run', dryRun: true, address: '203.0.113.9' } }),
    ]);
  });
});
