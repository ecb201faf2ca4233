import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { VirtualClock } from '../../governor/virtual-clock.js';
import { MemoryRegion } from '../../governor/cloud/memory.js';
import { isGovError } from '../../governor/errors.js';
import { describeCloudContract, sampleSummary } from './contract.js';

const FLEET = 'edge';
const REGION = 'local-1';

describeCloudContract('memory', async () => {
  const clock = new VirtualClock();
  const region = new MemoryRegion({ clock });
  return {
    fleet: FLEET,
    region: REGION,
    async createFirst(where = {}) {
      return region.createInstance({ fleet: where.fleet ?? FLEET, region: where.region ?? REGION, launchedBy: 'operator' }).id;
    },
    async cloudFor(id) {
      return region.cloudFor(id);
    },
    async issueCommand(command) {
      region.writeCommand(command);
    },
    failNext: (method, count) => region.failures.failNext(method, count),
    now: () => clock.now(),
    advanceTime: (ms) => clock.advance(ms),
    async cleanup() {
      clock.uninstall();
    },
  };
});

describe('MemoryRegion beyond the contract', () => {
  let clock: VirtualClock;
  let region: MemoryRegion;
  beforeEach(() => {
    clock = new VirtualClock();
    let n = 0;
    region = new MemoryRegion({ clock, newId: () => `i-${String(++n).padStart(4, '0')}` });
  });
  afterEach(() => clock.uninstall());

  it('uses the id generator it is given and keeps terminated instances as history', async () => {
    const first = region.createInstance({ fleet: FLEET, region: REGION, launchedBy: 'operator' });
    expect(first.id).toBe('i-0001');
    const cloud = region.cloudFor(first.id);
    const launched = await cloud.launch({ token: 'tok-1', slot: 's-1', launchedBy: first.id });
    expect(launched).toEqual({ id: 'i-0002', created: true });
    await clock.advance(5000);
    await region.cloudFor('i-0002').terminateSelf();
    expect(region.list(FLEET, REGION).map((i) => i.id)).toEqual(['i-0001']);
    const history = region.list(FLEET, REGION, { includeTerminated: true });
    expect(history.find((i) => i.id === 'i-0002')).toMatchObject({ state: 'terminated', endTime: clock.now(), endReason: 'terminated itself' });
  });

  it('hands out frozen snapshots: a listed record cannot be changed, and an update leaves it as it was', async () => {
    const first = region.createInstance({ fleet: FLEET, region: REGION, launchedBy: 'operator' });
    const cloud = region.cloudFor(first.id);
    const [listed] = await cloud.listFleet();
    expect(() => {
      listed.state = 'terminated';
    }).toThrow(TypeError);
    await cloud.markRunning({ proxy: 'http://127.0.0.1:1' });
    await cloud.publishSummary(sampleSummary(1000));
    const [after] = await cloud.listFleet();
    expect(() => {
      after.summary!.busyNow = 2;
    }).toThrow(TypeError);
    expect(() => {
      after.endpoints!.proxy = 'http://127.0.0.1:2';
    }).toThrow(TypeError);
    expect([listed.state, listed.summary]).toEqual(['pending', undefined]);
    expect(region.get(first.id)!.state).toBe('running');
  });

  it('moves states forward only', async () => {
    const first = region.createInstance({ fleet: FLEET, region: REGION, launchedBy: 'operator' });
    const cloud = region.cloudFor(first.id);
    await cloud.markRunning({});
    await cloud.markLeaving();
    const err = await cloud.markRunning({}).catch((e: unknown) => e);
    expect(isGovError(err, 'GOV_ERR_CLOUD_BAD_STATE')).toBe(true);
    expect(region.get(first.id)!.state).toBe('leaving');
  });

  it('closes expired commands as history and refuses a reused command id', () => {
    const first = region.createInstance({ fleet: FLEET, region: REGION, launchedBy: 'operator' });
    const now = clock.now();
    region.writeCommand({ id: 'cmd-1', target: first.id, fleet: FLEET, kind: 'pause', issuedAt: now, expiresAt: now + 10 });
    clock.jump(10);
    expect(region.commandsFor({ id: first.id, fleet: FLEET, region: REGION })).toEqual([]);
    expect(region.commandHistory().map((a) => a.outcome)).toEqual(['expired']);
    expect(() => region.writeCommand({ id: 'cmd-1', target: first.id, fleet: FLEET, kind: 'pause', issuedAt: now, expiresAt: now + 99 })).toThrow(/already used/);
  });
});
