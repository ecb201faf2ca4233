import { afterEach, describe, expect, it } from 'vitest';
import { RealClock } from '../../governor/clock.js';
import type { Ec2CloudOptions } from '../../governor/cloud/ec2.js';
import { isGovError } from '../../governor/errors.js';
import { FakeEc2Server } from '../fakes/ec2-server.js';
import { FakeElbServer } from '../fakes/elb-server.js';
import { AdapterPool, launchFirst, loopback } from './ec2-harness.js';

const ARN = 'arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/edge/0123456789abcdef';

let fake: FakeEc2Server;
let elb: FakeElbServer;
let pool: AdapterPool;

async function setUp(targetGroup: Partial<NonNullable<Ec2CloudOptions['targetGroup']>> = {}) {
  fake = await FakeEc2Server.start();
  elb = await FakeElbServer.start();
  elb.addTargetGroup(ARN);
  pool = new AdapterPool(fake, {
    clock: new RealClock(),
    targetGroup: { arn: ARN, endpoint: loopback(elb.url), deregistrationWaitMs: 5_000, pollSeconds: 1, ...targetGroup },
  });
  const id = await launchFirst(fake);
  return { id, cloud: await pool.cloudFor(id) };
}

afterEach(async () => {
  await pool?.close();
  await elb?.close();
  await fake?.close();
});

describe('the ec2 adapter with a load balancer target group', () => {
  it("registers on markRunning with the proxy's port, and markLeaving waits until the balancer is done draining", async () => {
    const { id, cloud } = await setUp();
    await cloud.markRunning({ proxy: 'http://10.0.0.5:8080', admin: 'http://127.0.0.1:9090' });
    expect(elb.targets(ARN)).toEqual({ [`${id}:8080`]: 'healthy' });

    elb.drainingChecks = 1; // one health check still reports it draining
    const started = Date.now();
    await cloud.markLeaving();
    expect(Date.now() - started).toBeGreaterThanOrEqual(900); // waited one poll interval
    expect(elb.targets(ARN)).toEqual({});
    expect(elb.calls.map((c) => c.action)).toEqual(['RegisterTargets', 'DeregisterTargets', 'DescribeTargetHealth', 'DescribeTargetHealth']);
    expect(elb.calls[1].params).toMatchObject({ TargetGroupArn: ARN, 'Targets.member.1.Id': id, 'Targets.member.1.Port': '8080' });
    expect(fake.instance(id)!.tags['governor:state']).toBe('leaving');
  });

  it('gives up waiting after deregistrationWaitMs while the balancer still drains, and leaves anyway', async () => {
    const { id, cloud } = await setUp({ deregistrationWaitMs: 2_000 });
    await cloud.markRunning({ proxy: 'http://10.0.0.5:8080' });
    elb.drainingChecks = 1_000;
    const started = Date.now();
    await cloud.markLeaving();
    expect(Date.now() - started).toBeLessThan(4_000);
    expect(elb.targets(ARN)).toEqual({ [`${id}:8080`]: 'draining' });
  });

  it('reports a failed registration as a coded cloud error, and needs a proxy endpoint with a port', async () => {
    const { cloud } = await setUp();
    elb.failNext(1, 'TargetGroupNotFound');
    const err = await cloud.markRunning({ proxy: 'http://10.0.0.5:8080' }).catch((e: unknown) => e);
    expect(isGovError(err, 'GOV_ERR_CLOUD_BAD_REQUEST')).toBe(true);
    expect((err as { details: Record<string, unknown> }).details).toMatchObject({ method: 'markRunning', awsCode: 'TargetGroupNotFoundException' }); // the SDK's name for the wire code

    const noProxy = await cloud.markRunning({ admin: 'http://127.0.0.1:9090' }).catch((e: unknown) => e);
    expect(isGovError(noProxy, 'GOV_ERR_CLOUD_BAD_REQUEST')).toBe(true);
    expect(String((noProxy as Error).message)).toMatch(/a target group needs the proxy endpoint/);
  });

  it('refuses a markRunning without a proxy endpoint before writing anything', async () => {
    const { id, cloud } = await setUp();
    const err = await cloud.markRunning({ admin: 'http://127.0.0.1:9090' }).catch((e: unknown) => e);
    expect(isGovError(err, 'GOV_ERR_CLOUD_BAD_REQUEST')).toBe(true);
    expect(fake.instance(id)!.tags['governor:state']).toBeUndefined();
    expect(fake.callsOf('CreateTags')).toEqual([]);
    expect(elb.calls).toEqual([]);
  });

  it('leaving before ever registering calls no load balancer API', async () => {
    const { cloud } = await setUp();
    await cloud.markLeaving();
    expect(elb.calls).toEqual([]);
  });

  it('refuses a target group without an explicit endpoint when explicit endpoints are required', async () => {
    fake = await FakeEc2Server.start();
    elb = await FakeElbServer.start();
    pool = new AdapterPool(fake, { clock: new RealClock(), targetGroup: { arn: ARN, deregistrationWaitMs: 5_000 } });
    const id = await launchFirst(fake);
    await expect(pool.cloudFor(id)).rejects.toThrow(/targetGroup\.endpoint/);
  });
});
