import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isGovError } from '../../governor/errors.js';
import type { CloudMethod } from '../../governor/cloud/failures.js';
import type { Cloud, Command, InstanceInfo, SignalSummary } from '../../governor/cloud/port.js';

/**
 * What an adapter's test provides to run the contract suite. Everything here is adapter-agnostic:
 * the local adapter backs it with a state directory, the ec2 adapter with a fake EC2 endpoint.
 */
export interface CloudContractFixture {
  /** The fleet and region under test. */
  fleet: string;
  region: string;
  /** Registers the first instance of a fleet (default: the one under test), as an operator would; returns its id. */
  createFirst(where?: { fleet?: string; region?: string }): Promise<string>;
  /** The adapter as instance `id` sees it (any instance made by createFirst or by a launch). */
  cloudFor(id: string): Promise<Cloud>;
  /** Files an operator command (the operator's side of readCommands). */
  issueCommand(command: Command): Promise<void>;
  /** The next `count` calls of `method`, by any adapter of this fixture, fail as the cloud would. */
  failNext(method: CloudMethod, count: number): void;
  /** The adapters' clock. */
  now(): number;
  advanceTime(ms: number): Promise<void>;
  cleanup(): Promise<void>;
}

/** Values any adapter must store and return exactly (at most 3 decimals, whole seconds). */
export function sampleSummary(at: number): SignalSummary {
  return {
    at: Math.floor(at / 1000) * 1000,
    busyNow: 0.625,
    busy1m: 0.5,
    busy5m: 0.25,
    busy15m: 0.125,
    queueWaitP95Ms: 12,
    queueWaitNowMs: 9,
    queueDepth: 3,
    rps: 40,
    inFlight: 7,
    ready: true,
    windowsFilled: false,
  };
}

function member(list: InstanceInfo[], id: string): InstanceInfo | undefined {
  return list.find((i) => i.id === id);
}

async function expectCloudError(call: Promise<unknown>): Promise<void> {
  const err = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isGovError(err), `expected a GovError, got ${String(err)}`).toBe(true);
  expect((err as { code: string }).code).toMatch(/^GOV_ERR_CLOUD_/);
}

/** The behaviour every Cloud adapter must show; `setup` makes a fresh, empty cloud per test. */
export function describeCloudContract(name: string, setup: () => Promise<CloudContractFixture>): void {
  describe(`Cloud contract: ${name}`, () => {
    let fx: CloudContractFixture;
    let firstId: string;
    let first: Cloud;

    beforeEach(async () => {
      fx = await setup();
      firstId = await fx.createFirst();
      first = await fx.cloudFor(firstId);
    });
    afterEach(async () => {
      await fx.cleanup();
    });

    const launchOne = (token: string, by: Cloud = first, launchedBy = firstId) =>
      by.launch({ token, slot: `slot-${token}`, launchedBy });

    it('tells an instance who it is', async () => {
      expect(await first.identity()).toEqual({ id: firstId, fleet: fx.fleet, region: fx.region });
    });

    it('lists the first instance with its launch time', async () => {
      const list = await first.listFleet();
      expect(list.map((i) => i.id)).toEqual([firstId]);
      const me = list[0];
      expect(me).toMatchObject({ fleet: fx.fleet, region: fx.region });
      expect(['pending', 'running']).toContain(me.state);
      expect(Number.isFinite(me.launchTime) && me.launchTime > 0).toBe(true);
    });

    it('launch adds a pending member that records its launcher and slot', async () => {
      const result = await launchOne('t-1');
      expect(result.created).toBe(true);
      expect(result.id).not.toBe(firstId);
      const added = member(await first.listFleet(), result.id);
      expect(added).toMatchObject({ state: 'pending', fleet: fx.fleet, region: fx.region, launchedBy: firstId, launchSlot: 'slot-t-1' });
      expect(added!.launchTime).toBeGreaterThanOrEqual(member(await first.listFleet(), firstId)!.launchTime);
    });

    it('a launch token used twice, even by another instance, launches once', async () => {
      const once = await launchOne('t-same');
      const peer = await fx.cloudFor(once.id);
      const again = await launchOne('t-same');
      const byPeer = await launchOne('t-same', peer, once.id);
      expect(again).toEqual({ id: once.id, created: false });
      expect(byPeer).toEqual({ id: once.id, created: false });
      expect((await first.listFleet()).length).toBe(2);
      const other = await launchOne('t-other');
      expect(other.created).toBe(true);
      expect((await first.listFleet()).length).toBe(3);
    });

    it('markRunning and markLeaving are visible to peers in one listFleet call', async () => {
      const { id } = await launchOne('t-run');
      const launched = await fx.cloudFor(id);
      const endpoints = { proxy: 'http://127.0.0.1:18081', admin: 'http://127.0.0.1:19081' };
      await launched.markRunning(endpoints);
      expect(member(await first.listFleet(), id)).toMatchObject({ state: 'running', endpoints });
      await launched.markLeaving();
      expect(member(await first.listFleet(), id)?.state).toBe('leaving');
    });

    it('a published summary is visible to peers', async () => {
      const { id } = await launchOne('t-sum');
      const launched = await fx.cloudFor(id);
      await launched.markRunning({ proxy: 'http://127.0.0.1:18082' });
      const summary = sampleSummary(fx.now());
      await launched.publishSummary(summary);
      expect(member(await first.listFleet(), id)?.summary).toEqual(summary);
    });

    it('a summary carries the optional demand figure to peers, and refuses one that is not a number', async () => {
      const { id } = await launchOne('t-demand');
      const launched = await fx.cloudFor(id);
      await launched.markRunning({ proxy: 'http://127.0.0.1:18084' });
      const summary = { ...sampleSummary(fx.now()), demandNow: 2.5 };
      await launched.publishSummary(summary);
      expect(member(await first.listFleet(), id)?.summary).toEqual(summary);
      await expect(launched.publishSummary({ ...summary, demandNow: Number.NaN })).rejects.toMatchObject({ code: 'GOV_ERR_CLOUD_BAD_REQUEST' });
    });

    it('terminateSelf removes the instance from the fleet and only that one', async () => {
      const { id } = await launchOne('t-end');
      const launched = await fx.cloudFor(id);
      await launched.markRunning({ proxy: 'http://127.0.0.1:18083' });
      await launched.terminateSelf();
      expect((await first.listFleet()).map((i) => i.id)).toEqual([firstId]);
      await expectCloudError(launched.markRunning({ proxy: 'http://127.0.0.1:18083' }));
    });

    it('lists neither another fleet nor another region', async () => {
      const otherFleet = await fx.createFirst({ fleet: `${fx.fleet}-other` });
      const otherRegion = await fx.createFirst({ region: `${fx.region}-other` });
      expect((await first.listFleet()).map((i) => i.id)).toEqual([firstId]);
      const elsewhere = await fx.cloudFor(otherFleet);
      expect((await elsewhere.listFleet()).map((i) => i.id)).toEqual([otherFleet]);
      const launched = await launchOne('t-shared', elsewhere, otherFleet);
      expect(launched.created).toBe(true);
      expect((await first.listFleet()).map((i) => i.id)).toEqual([firstId]);
      expect((await (await fx.cloudFor(otherRegion)).listFleet()).map((i) => i.id)).toEqual([otherRegion]);
    });

    it('delivers a command to its target only, oldest first, until it expires or is acknowledged', async () => {
      const { id: peerId } = await launchOne('t-cmd');
      const peer = await fx.cloudFor(peerId);
      const now = fx.now();
      const base = { fleet: fx.fleet, kind: 'shutdown' as const, issuedAt: now, expiresAt: now + 60_000 };
      await fx.issueCommand({ ...base, id: 'cmd-late', target: firstId, kind: 'pause', issuedAt: now + 1 });
      await fx.issueCommand({ ...base, id: 'cmd-early', target: firstId, params: { drainMs: 500 } });
      await fx.issueCommand({ ...base, id: 'cmd-peer', target: peerId });
      await fx.issueCommand({ ...base, id: 'cmd-fleet', target: firstId, fleet: `${fx.fleet}-other` });
      await fx.issueCommand({ ...base, id: 'cmd-short', target: firstId, expiresAt: now + 1_000 });

      const mine = await first.readCommands();
      expect(mine.map((c) => c.id)).toEqual(['cmd-early', 'cmd-short', 'cmd-late']);
      expect(mine[0]).toEqual({ ...base, id: 'cmd-early', target: firstId, params: { drainMs: 500 } });
      expect((await peer.readCommands()).map((c) => c.id)).toEqual(['cmd-peer']);

      await fx.advanceTime(1_000);
      expect((await first.readCommands()).map((c) => c.id)).toEqual(['cmd-early', 'cmd-late']);
      await first.ackCommand('cmd-early', 'shutdown started');
      expect((await first.readCommands()).map((c) => c.id)).toEqual(['cmd-late']);
      await expectCloudError(first.ackCommand('cmd-peer', 'not mine'));
      expect((await peer.readCommands()).map((c) => c.id)).toEqual(['cmd-peer']);
    });

    it('an injected failure rejects with a coded error and changes nothing', async () => {
      fx.failNext('launch', 1);
      await expectCloudError(launchOne('t-fail'));
      expect((await first.listFleet()).map((i) => i.id)).toEqual([firstId]);
      const retried = await launchOne('t-fail');
      expect(retried.created).toBe(true);

      const launched = await fx.cloudFor(retried.id);
      fx.failNext('markRunning', 1);
      await expectCloudError(launched.markRunning({ proxy: 'http://127.0.0.1:18084' }));
      expect(member(await first.listFleet(), retried.id)?.state).toBe('pending');

      fx.failNext('listFleet', 1);
      await expectCloudError(first.listFleet());
      expect((await first.listFleet()).length).toBe(2);
    });

    it('refuses a malformed launch token and creates nothing', async () => {
      await expectCloudError(launchOne('x'.repeat(65)));
      await expectCloudError(launchOne('has space'));
      expect((await first.listFleet()).map((i) => i.id)).toEqual([firstId]);
    });
  });
}
