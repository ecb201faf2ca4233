import { CreateTagsCommand, type Tag } from '@aws-sdk/client-ec2';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RealClock } from '../../governor/clock.js';
import { Ec2Cloud, type Ec2CloudOptions, type Ec2CreateOptions } from '../../governor/cloud/ec2.js';
import { COMMAND_TAG_PREFIX, TAG, encodeCommand } from '../../governor/cloud/ec2-tags.js';
import type { SignalSummary } from '../../governor/cloud/port.js';
import type { CloudMethod } from '../../governor/cloud/failures.js';
import { FakeEc2Server } from '../fakes/ec2-server.js';
import { describeCloudContract } from './contract.js';
import {
  AdapterPool,
  CREDENTIALS,
  FIRST_INSTANCE,
  FLEET,
  MAX_ATTEMPTS,
  REGION,
  ShiftedClock,
  launchFirst,
  loopback,
  operatorClient,
} from './ec2-harness.js';

/** Tags an instance the way an operator's tooling would (CreateTags through the SDK). */
async function operatorTags(fake: FakeEc2Server, id: string, tags: Tag[]): Promise<void> {
  const operator = operatorClient(fake, fake.instance(id)?.region ?? REGION);
  try {
    await operator.send(new CreateTagsCommand({ Resources: [id], Tags: tags }));
  } finally {
    operator.destroy();
  }
}

/** RunInstances calls of the adapters (the operator's first launch carries an SDK-made token). */
function adapterLaunches(fake: FakeEc2Server) {
  return fake.callsOf('RunInstances').filter((c) => c.params.ClientToken?.startsWith('tok-'));
}

function summaryAt(at: number): SignalSummary {
  return {
    at,
    busyNow: 0.75,
    busy1m: 0.5,
    busy5m: 0.25,
    busy15m: 0.125,
    queueWaitP95Ms: 12,
    queueWaitNowMs: 20,
    queueDepth: 3,
    rps: 40,
    inFlight: 7,
    ready: true,
    windowsFilled: false,
  };
}

/** The EC2 call that fails first when a port method fails "as the cloud would". */
const FIRST_CALL: Record<CloudMethod, string | undefined> = {
  identity: undefined,
  listFleet: 'DescribeInstances',
  launch: 'RunInstances',
  markRunning: 'CreateTags',
  markLeaving: 'CreateTags',
  terminateSelf: 'TerminateInstances',
  publishSummary: 'CreateTags',
  readCommands: 'DescribeInstances',
  ackCommand: 'CreateTags',
};

describeCloudContract('ec2 (real SDK, fake EC2 Query endpoint and IMDSv2)', async () => {
  const clock = new ShiftedClock();
  const fake = await FakeEc2Server.start({ now: () => clock.now() });
  const pool = new AdapterPool(fake, { clock });
  return {
    fleet: FLEET,
    region: REGION,
    createFirst: (where) => launchFirst(fake, where),
    cloudFor: (id) => pool.cloudFor(id),
    issueCommand: (command) => operatorTags(fake, command.target, [encodeCommand(command)]),
    failNext(method, count) {
      const action = FIRST_CALL[method];
      if (!action) throw new Error(`${method} makes no EC2 call after create()`);
      // 503 is retried by the SDK: every attempt of `count` calls fails.
      fake.failNext(action, count * MAX_ATTEMPTS, { code: 'Unavailable', status: 503 });
    },
    now: () => clock.now(),
    advanceTime: async (ms) => clock.advance(ms),
    async cleanup() {
      await pool.close();
      await fake.close();
    },
  };
});

describe('Ec2Cloud on the fake EC2', () => {
  let clock: ShiftedClock;
  let fake: FakeEc2Server;
  let pool: AdapterPool;
  let firstId: string;
  let first: Ec2Cloud;

  const start = async (fakeOptions: { pendingMs?: number; shuttingDownMs?: number } = {}, options: Partial<Ec2CloudOptions> = {}) => {
    fake = await FakeEc2Server.start({ now: () => clock.now(), ...fakeOptions });
    pool = new AdapterPool(fake, { clock, ...options });
    firstId = await launchFirst(fake);
    first = await pool.cloudFor(firstId);
  };
  const launch = (slot: string, by = first, launchedBy = firstId) => by.launch({ token: `tok-${slot}`, slot, launchedBy });

  beforeEach(() => {
    clock = new ShiftedClock();
  });
  afterEach(async () => {
    await pool?.close();
    await fake?.close();
  });

  it('launches a copy of itself: image, type, network, groups, profile, key, metadata options, user data and tags', async () => {
    await start();
    await operatorTags(fake, firstId, [
      { Key: TAG.summary, Value: 'not copied' },
      { Key: 'team', Value: 'edge-ops' },
    ]);
    const { id, created } = await launch('s1');
    expect(created).toBe(true);
    const self = fake.instance(firstId)!;
    const copy = fake.instance(id)!;
    expect(copy).toMatchObject({
      imageId: self.imageId,
      instanceType: self.instanceType,
      subnetId: self.subnetId,
      securityGroupIds: self.securityGroupIds,
      iamInstanceProfileArn: self.iamInstanceProfileArn,
      keyName: self.keyName,
      userData: FIRST_INSTANCE.UserData,
      metadataOptions: { httpTokens: 'required', httpPutResponseHopLimit: 2, httpEndpoint: 'enabled' },
      clientToken: 'tok-s1',
    });
    expect(copy.tags).toEqual({
      Name: `${FLEET}-edge`,
      team: 'edge-ops',
      [TAG.fleet]: FLEET,
      [TAG.region]: REGION,
      [TAG.launchedBy]: firstId,
      [TAG.launchSlot]: 's1',
    });
    await launch('s2');
    expect(fake.callsOf('DescribeInstanceAttribute')).toHaveLength(1); // described once
    expect(adapterLaunches(fake).map((c) => c.params.ClientToken)).toEqual(['tok-s1', 'tok-s2']);
  });

  it('two governors launching one slot at once create one instance', async () => {
    await start();
    const peerId = (await launch('peer')).id;
    const peer = await pool.cloudFor(peerId);
    const results = await Promise.all([launch('race'), launch('race', peer, peerId)]);
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect(results[0].id).toBe(results[1].id);
    expect(fake.instances(REGION).filter((i) => i.clientToken === 'tok-race')).toHaveLength(1);
  });

  it('a launch retried by the SDK after a 5xx reuses its ClientToken and creates one instance', async () => {
    await start();
    fake.failNext('RunInstances', 1, { code: 'InternalError', status: 500 });
    const { id, created } = await launch('retry');
    expect(created).toBe(true);
    const attempts = adapterLaunches(fake);
    expect(attempts.map((c) => [c.params.ClientToken, c.failed])).toEqual([
      ['tok-retry', 'InternalError'],
      ['tok-retry', undefined],
    ]);
    expect(fake.instances(REGION).map((i) => i.id)).toEqual([firstId, id]);
  });

  it.each([
    ['InsufficientInstanceCapacity', 500, 'GOV_ERR_CLOUD_CAPACITY'],
    ['RequestLimitExceeded', 503, 'GOV_ERR_CLOUD_THROTTLED'],
    ['Unavailable', 503, 'GOV_ERR_CLOUD_UNAVAILABLE'],
  ])('%s on every attempt: retried in standard mode, then %s with the AWS code, nothing launched', async (code, status, govCode) => {
    await start();
    fake.failNext('RunInstances', MAX_ATTEMPTS, { code, status });
    const err = await launch('busy').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: govCode, details: { method: 'launch', awsCode: code, httpStatus: status, attempts: MAX_ATTEMPTS } });
    expect(adapterLaunches(fake).map((c) => c.params.ClientToken)).toEqual(Array(MAX_ATTEMPTS).fill('tok-busy'));
    expect(fake.instances(REGION).map((i) => i.id)).toEqual([firstId]);
    expect((await launch('busy')).created).toBe(true);
  });

  it('expired credentials reject with GOV_ERR_CLOUD_AUTH and are not retried', async () => {
    await start();
    fake.failNext('DescribeInstances', 1, { code: 'RequestExpired', status: 400, message: 'Request has expired.' });
    await expect(first.listFleet()).rejects.toMatchObject({ code: 'GOV_ERR_CLOUD_AUTH', details: { awsCode: 'RequestExpired' } });
    fake.failNext('DescribeInstances', 1, { code: 'AuthFailure', status: 401 });
    await expect(first.listFleet()).rejects.toMatchObject({ code: 'GOV_ERR_CLOUD_AUTH' });
    expect((await first.listFleet()).map((i) => i.id)).toEqual([firstId]);
  });

  it('lists a large fleet page by page', async () => {
    await start({}, { pageSize: 5 });
    for (let n = 0; n < 11; n++) await launch(`p${n}`);
    await launchFirst(fake, { fleet: 'other' });
    const before = fake.callsOf('DescribeInstances').length;
    const listed = await first.listFleet();
    expect(listed).toHaveLength(12);
    expect(new Set(listed.map((i) => i.id)).size).toBe(12);
    const pages = fake.callsOf('DescribeInstances').slice(before);
    expect(pages.map((c) => [c.params.MaxResults, c.params.NextToken === undefined])).toEqual([
      ['5', true],
      ['5', false],
      ['5', false],
    ]);
    expect(pages[0].params).toMatchObject({
      'Filter.1.Name': `tag:${TAG.fleet}`,
      'Filter.1.Value.1': FLEET,
      'Filter.2.Name': `tag:${TAG.region}`,
      'Filter.2.Value.1': REGION,
      'Filter.3.Name': 'instance-state-name',
    });
  });

  it('maps EC2 states: pending while booting, leaving while shutting down, gone once terminated', async () => {
    await start({ pendingMs: 30_000, shuttingDownMs: 60_000 });
    const { id } = await launch('states');
    const peer = await pool.cloudFor(id);
    const stateOf = async (which: string) => (await first.listFleet()).find((i) => i.id === which)?.state;
    expect(fake.instance(id)!.state).toBe('pending');
    expect(await stateOf(id)).toBe('pending');
    clock.advance(30_000);
    expect(fake.instance(id)!.state).toBe('running');
    expect(await stateOf(id)).toBe('pending'); // its governor has not said it serves yet
    await peer.markRunning({ proxy: 'http://10.0.0.7:8080' });
    expect(await stateOf(id)).toBe('running');
    await peer.terminateSelf();
    expect(fake.instance(id)!.state).toBe('shutting-down');
    expect(await stateOf(id)).toBe('leaving');
    clock.advance(60_000);
    expect(await stateOf(id)).toBeUndefined();
    await expect(peer.publishSummary(summaryAt(clock.now()))).rejects.toMatchObject({ code: 'GOV_ERR_CLOUD_BAD_STATE' });
    expect(fake.callsOf('TerminateInstances').map((c) => c.params['InstanceId.1'])).toEqual([id]);
  });

  it('markLeaving is a tag peers see; markRunning afterwards is refused', async () => {
    await start();
    await first.markRunning({ proxy: 'http://10.0.0.5:8080', admin: 'http://10.0.0.5:9100' });
    await first.markLeaving();
    expect(fake.instance(firstId)!.tags).toMatchObject({ [TAG.state]: 'leaving', [TAG.proxy]: 'http://10.0.0.5:8080' });
    expect((await first.listFleet())[0].state).toBe('leaving');
    await expect(first.markRunning({})).rejects.toMatchObject({ code: 'GOV_ERR_CLOUD_BAD_STATE' });
  });

  it('markRunning replaces the endpoints and refuses one that does not fit a tag, writing nothing', async () => {
    await start();
    await first.markRunning({ proxy: 'http://10.0.0.5:8080', admin: 'http://10.0.0.5:9100' });
    await first.markRunning({ proxy: 'http://10.0.0.5:8081' });
    expect((await first.listFleet())[0].endpoints).toEqual({ proxy: 'http://10.0.0.5:8081' });
    const writes = fake.callsOf('CreateTags').length;
    await expect(first.markRunning({ proxy: `http://10.0.0.5/${'x'.repeat(260)}` })).rejects.toMatchObject({
      code: 'GOV_ERR_CLOUD_BAD_REQUEST',
      details: { field: 'endpoints.proxy' },
    });
    expect(fake.callsOf('CreateTags')).toHaveLength(writes);
  });

  it('publishes the summary at most every summaryMinIntervalMs, and an unchanged one only after summaryRefreshMs', async () => {
    await start({}, { summaryMinIntervalMs: 10_000, summaryRefreshMs: 20_000 });
    const writes = () => fake.callsOf('CreateTags').filter((c) => c.params['Tag.1.Key'] === TAG.summary).length;
    const t0 = clock.now();
    await first.publishSummary(summaryAt(t0));
    expect(writes()).toBe(1);
    expect(fake.instance(firstId)!.tags[TAG.summary]).toBe(`t=${Math.floor(t0 / 1000)};b0=0.75;b1=0.5;b5=0.25;b15=0.125;w=12;w0=20;q=3;r=40;f=7;rd=1;wf=0`);
    clock.advance(5_000);
    await first.publishSummary({ ...summaryAt(clock.now()), busy1m: 0.9 });
    expect(writes()).toBe(1); // too soon
    clock.advance(5_000);
    await first.publishSummary(summaryAt(clock.now()));
    expect(writes()).toBe(1); // unchanged but for its time
    clock.advance(10_000);
    await first.publishSummary(summaryAt(clock.now()));
    expect(writes()).toBe(2); // refreshed
    clock.advance(10_000);
    await first.publishSummary({ ...summaryAt(clock.now()), busy1m: 0.8123456 });
    expect(writes()).toBe(3);
    expect((await first.listFleet())[0].summary?.busy1m).toBe(0.812);
  });

  it('ignores unreadable summary and command tags instead of failing', async () => {
    await start();
    const { id } = await launch('bad-tags');
    await operatorTags(fake, id, [{ Key: TAG.summary, Value: 't=1;b1=oops' }]);
    await operatorTags(fake, firstId, [
      { Key: `${COMMAND_TAG_PREFIX}cmd-junk`, Value: '{not json' },
      { Key: `${COMMAND_TAG_PREFIX}cmd-badkind`, Value: JSON.stringify({ k: 'reboot', f: FLEET, i: 1, e: clock.now() + 60_000 }) },
    ]);
    const peer = (await first.listFleet()).find((i) => i.id === id)!;
    expect(peer.state).toBe('pending');
    expect(peer.summary).toBeUndefined();
    expect(await first.readCommands()).toEqual([]);
  });

  it('removes expired command tags and records acknowledgements on the instance', async () => {
    await start();
    const now = clock.now();
    const base = { target: firstId, fleet: FLEET, kind: 'pause' as const, issuedAt: now };
    await operatorTags(fake, firstId, [
      encodeCommand({ ...base, id: 'cmd-old', expiresAt: now + 1_000 }),
      encodeCommand({ ...base, id: 'cmd-new', expiresAt: now + 60_000 }),
    ]);
    clock.advance(2_000);
    expect((await first.readCommands()).map((c) => c.id)).toEqual(['cmd-new']);
    expect(Object.keys(fake.instance(firstId)!.tags).filter((k) => k.startsWith(COMMAND_TAG_PREFIX))).toEqual([`${COMMAND_TAG_PREFIX}cmd-new`]);
    await first.ackCommand('cmd-new', 'paused');
    await first.ackCommand('cmd-new', 'paused'); // twice is harmless
    expect(fake.instance(firstId)!.tags[TAG.ack]).toBe('cmd-new: paused');
    expect(await first.readCommands()).toEqual([]);
    await expect(first.ackCommand('cmd-never', 'done')).rejects.toMatchObject({ code: 'GOV_ERR_CLOUD_NOT_FOUND' });
  });

  it('refuses a command that does not fit in one tag value', () => {
    const command = { id: 'cmd-big', target: 'i-0123', fleet: FLEET, kind: 'shutdown' as const, issuedAt: 1, expiresAt: 2, params: { note: 'x'.repeat(300) } };
    expect(() => encodeCommand(command)).toThrow(expect.objectContaining({ code: 'GOV_ERR_CLOUD_BAD_REQUEST', details: expect.objectContaining({ field: 'command' }) }));
  });
});

describe('Ec2Cloud.create and the instance metadata service', () => {
  let fake: FakeEc2Server;
  let pool: AdapterPool;
  let firstId: string;
  const clock = new RealClock();

  beforeEach(async () => {
    fake = await FakeEc2Server.start();
    pool = new AdapterPool(fake, { clock });
    firstId = await launchFirst(fake);
  });
  afterEach(async () => {
    await pool.close();
    await fake.close();
  });

  const createWith = (imdsEndpoint: string | undefined, extra: Partial<Ec2CreateOptions> = {}) =>
    Ec2Cloud.create({
      fleet: FLEET,
      clock,
      endpoint: loopback(fake.url),
      imdsEndpoint,
      imdsTimeoutMs: 300,
      credentials: CREDENTIALS,
      requireExplicitEndpoints: true,
      ...extra,
    });

  it('uses IMDSv2 only: a token PUT, then the identity document with the token', async () => {
    const imds = await pool.imdsFor(firstId);
    const cloud = await createWith(imds.url);
    cloud.close();
    expect(imds.requests).toEqual([
      { method: 'PUT', path: '/latest/api/token', status: 200 },
      { method: 'GET', path: '/latest/dynamic/instance-identity/document', status: 200 },
    ]);
  });

  it('a hanging IMDS rejects with GOV_ERR_CLOUD_IMDS_TIMEOUT after imdsTimeoutMs', async () => {
    const imds = await pool.imdsFor(firstId);
    imds.hang();
    const started = Date.now();
    await expect(createWith(imds.url)).rejects.toMatchObject({ code: 'GOV_ERR_CLOUD_IMDS_TIMEOUT', details: { timeoutMs: 300 } });
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('an IMDS without the document rejects with a coded error', async () => {
    const imds = await pool.imdsFor(firstId);
    await expect(createWith(`${imds.url}/nowhere`)).rejects.toMatchObject({ code: 'GOV_ERR_CLOUD_UNAVAILABLE', details: { imds: true } });
  });

  it('the fake IMDS refuses IMDSv1 (a GET without a token)', async () => {
    const imds = await pool.imdsFor(firstId);
    const res = await fetch(`${imds.url}/latest/meta-data/instance-id`);
    expect(res.status).toBe(401);
  });

  it('with requireExplicitEndpoints, refuses to fall back to AWS, the real IMDS or the default credential chain', async () => {
    const imds = await pool.imdsFor(firstId);
    await expect(createWith(undefined)).rejects.toMatchObject({ code: 'GOV_ERR_CONFIG_INVALID', details: { key: 'cloud.ec2.imdsEndpoint' } });
    await expect(createWith(imds.url, { endpoint: undefined })).rejects.toMatchObject({ code: 'GOV_ERR_CONFIG_INVALID', details: { key: 'cloud.ec2.endpoint' } });
    await expect(createWith(imds.url, { credentials: undefined })).rejects.toMatchObject({ code: 'GOV_ERR_CONFIG_INVALID', details: { key: 'cloud.ec2.credentials' } });
    await expect(createWith('ftp://127.0.0.1:1')).rejects.toMatchObject({ code: 'GOV_ERR_CONFIG_INVALID' });
    expect(imds.requests).toEqual([]);
    expect(fake.calls.filter((c) => c.action !== 'RunInstances')).toEqual([]);
  });
});
