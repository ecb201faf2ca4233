import {
  CreateTagsCommand,
  DescribeInstanceAttributeCommand,
  DescribeInstancesCommand,
  EC2Client,
  EC2ServiceException,
  RunInstancesCommand,
  TerminateInstancesCommand,
  type Instance,
} from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Ec2Cloud } from '../../governor/cloud/ec2.js';
import { TAG } from '../../governor/cloud/ec2-tags.js';
import { CREDENTIALS, FIRST_INSTANCE, FLEET, REGION, ShiftedClock } from './ec2-harness.js';

/**
 * Error paths of the ec2 adapter with the SDK client mocked (aws-sdk-client-mock replaces
 * EC2Client#send, so a rejection here is what the SDK hands over after its own retries). Every
 * failure must become a coded GovError, none may crash the caller, and none may launch twice.
 */

const SELF = { instanceId: 'i-0aaaaaaaaaaaaaaa1', region: REGION, availabilityZone: `${REGION}a`, imageId: FIRST_INSTANCE.ImageId! };
const PEER = 'i-0bbbbbbbbbbbbbbb2';
const REQUEST = { token: 'gov-edge-0123456789abcdef', slot: 'g1-0', launchedBy: SELF.instanceId };

function awsError(name: string, status: number, fault: 'client' | 'server' = status >= 500 ? 'server' : 'client'): EC2ServiceException {
  return new EC2ServiceException({
    name,
    $fault: fault,
    message: `${name} (mocked)`,
    $metadata: { httpStatusCode: status, requestId: 'req-mocked', attempts: 3 },
  });
}

const selfInstance: Instance = {
  InstanceId: SELF.instanceId,
  ImageId: FIRST_INSTANCE.ImageId,
  InstanceType: 't3.small',
  SubnetId: FIRST_INSTANCE.SubnetId,
  SecurityGroups: [{ GroupId: 'sg-0aaaaaaaaaaaaaaa1' }],
  State: { Name: 'running', Code: 16 },
  LaunchTime: new Date('2026-01-01T00:00:00Z'),
  Tags: [
    { Key: TAG.fleet, Value: FLEET },
    { Key: TAG.region, Value: REGION },
  ],
};

describe('Ec2Cloud error paths (aws-sdk-client-mock)', () => {
  const ec2 = mockClient(EC2Client);
  let cloud: Ec2Cloud;

  beforeEach(() => {
    ec2.reset();
    // Nothing is sent (send is mocked), yet the client is built as every test builds one: loopback, fake credentials.
    cloud = new Ec2Cloud({
      fleet: FLEET,
      self: SELF,
      clock: new ShiftedClock(),
      endpoint: 'http://127.0.0.1:9',
      credentials: CREDENTIALS,
      requireExplicitEndpoints: true,
    });
    ec2.on(DescribeInstancesCommand, { InstanceIds: [SELF.instanceId] }).resolves({ Reservations: [{ Instances: [selfInstance] }] });
    ec2.on(DescribeInstancesCommand, { Filters: [{ Name: 'client-token', Values: [REQUEST.token] }] }).resolves({ Reservations: [] });
    ec2.on(DescribeInstanceAttributeCommand).resolves({ UserData: { Value: 'IyEvYmluL3No' } });
  });
  afterEach(() => {
    cloud.close();
  });

  const launchError = () => cloud.launch(REQUEST).then(() => undefined, (e: unknown) => e);

  it.each([
    ['RequestLimitExceeded', 503, 'GOV_ERR_CLOUD_THROTTLED'],
    ['Unavailable', 503, 'GOV_ERR_CLOUD_UNAVAILABLE'],
    ['InternalError', 500, 'GOV_ERR_CLOUD_UNAVAILABLE'],
    ['InsufficientInstanceCapacity', 500, 'GOV_ERR_CLOUD_CAPACITY'],
    ['VcpuLimitExceeded', 400, 'GOV_ERR_CLOUD_CAPACITY'],
    ['ExpiredToken', 400, 'GOV_ERR_CLOUD_AUTH'],
    ['UnauthorizedOperation', 403, 'GOV_ERR_CLOUD_AUTH'],
    ['InvalidParameterValue', 400, 'GOV_ERR_CLOUD_BAD_REQUEST'],
  ])('RunInstances failing with %s (%i) rejects with %s, details naming the AWS code, and is not repeated', async (name, status, code) => {
    ec2.on(RunInstancesCommand).rejects(awsError(name, status));
    expect(await launchError()).toMatchObject({
      code,
      details: { method: 'launch', awsCode: name, httpStatus: status, requestId: 'req-mocked', attempts: 3 },
    });
    expect(ec2.commandCalls(RunInstancesCommand)).toHaveLength(1);
  });

  it('sends the launch token as ClientToken with the fleet, region, launcher and slot tags', async () => {
    ec2.on(RunInstancesCommand).resolves({ Instances: [{ InstanceId: PEER }] });
    expect(await cloud.launch(REQUEST)).toEqual({ id: PEER, created: true });
    const [call] = ec2.commandCalls(RunInstancesCommand);
    const input = call.args[0].input;
    expect(input).toMatchObject({ ClientToken: REQUEST.token, MinCount: 1, MaxCount: 1, ImageId: FIRST_INSTANCE.ImageId, UserData: 'IyEvYmluL3No' });
    expect(input.TagSpecifications).toEqual([
      {
        ResourceType: 'instance',
        Tags: [
          { Key: TAG.fleet, Value: FLEET },
          { Key: TAG.region, Value: REGION },
          { Key: TAG.launchedBy, Value: SELF.instanceId },
          { Key: TAG.launchSlot, Value: REQUEST.slot },
        ],
      },
    ]);
  });

  it('IdempotentParameterMismatch: the slot was taken by a peer; its instance is returned, not created, not retried', async () => {
    ec2
      .on(DescribeInstancesCommand, { Filters: [{ Name: 'client-token', Values: [REQUEST.token] }] })
      .resolvesOnce({ Reservations: [] })
      .resolves({ Reservations: [{ Instances: [{ InstanceId: PEER }] }] });
    ec2.on(RunInstancesCommand).rejects(awsError('IdempotentParameterMismatch', 400));
    expect(await cloud.launch(REQUEST)).toEqual({ id: PEER, created: false });
    expect(ec2.commandCalls(RunInstancesCommand)).toHaveLength(1);
  });

  it('IdempotentParameterMismatch whose instance cannot be found rejects with GOV_ERR_CLOUD_SLOT_TAKEN', async () => {
    ec2.on(RunInstancesCommand).rejects(awsError('IdempotentParameterMismatch', 400));
    expect(await launchError()).toMatchObject({
      code: 'GOV_ERR_CLOUD_SLOT_TAKEN',
      details: { token: REQUEST.token, slot: REQUEST.slot, awsCode: 'IdempotentParameterMismatch' },
    });
    expect(ec2.commandCalls(RunInstancesCommand)).toHaveLength(1);
  });

  it('a token already used launches nothing', async () => {
    ec2.on(DescribeInstancesCommand, { Filters: [{ Name: 'client-token', Values: [REQUEST.token] }] }).resolves({
      Reservations: [{ Instances: [{ InstanceId: PEER }] }],
    });
    expect(await cloud.launch(REQUEST)).toEqual({ id: PEER, created: false });
    expect(ec2.commandCalls(RunInstancesCommand)).toHaveLength(0);
  });

  it('a failed self-description is retried by the next launch', async () => {
    ec2.on(DescribeInstanceAttributeCommand).rejectsOnce(awsError('RequestLimitExceeded', 503)).resolves({ UserData: { Value: 'IyEvYmluL3No' } });
    ec2.on(RunInstancesCommand).resolves({ Instances: [{ InstanceId: PEER }] });
    expect(await launchError()).toMatchObject({ code: 'GOV_ERR_CLOUD_THROTTLED' });
    expect(ec2.commandCalls(RunInstancesCommand)).toHaveLength(0);
    expect(await cloud.launch(REQUEST)).toEqual({ id: PEER, created: true });
  });

  it('credentials that cannot be loaded or have expired reject with GOV_ERR_CLOUD_AUTH', async () => {
    const noCredentials = Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError' });
    ec2.on(DescribeInstancesCommand).rejectsOnce(noCredentials).rejectsOnce(awsError('RequestExpired', 400));
    await expect(cloud.listFleet()).rejects.toMatchObject({ code: 'GOV_ERR_CLOUD_AUTH', details: { awsCode: 'CredentialsProviderError' } });
    await expect(cloud.listFleet()).rejects.toMatchObject({ code: 'GOV_ERR_CLOUD_AUTH', details: { awsCode: 'RequestExpired' } });
  });

  it('a network failure (no HTTP answer) rejects with GOV_ERR_CLOUD_UNAVAILABLE', async () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' });
    ec2.on(CreateTagsCommand).rejects(refused);
    ec2.on(TerminateInstancesCommand).rejects(refused);
    await expect(cloud.markRunning({ proxy: 'http://10.0.0.1:8080' })).rejects.toMatchObject({ code: 'GOV_ERR_CLOUD_UNAVAILABLE' });
    await expect(cloud.terminateSelf()).rejects.toMatchObject({ code: 'GOV_ERR_CLOUD_UNAVAILABLE', details: { method: 'terminateSelf' } });
    // a failed terminate leaves the instance serving: it may try again
    ec2.on(TerminateInstancesCommand).resolves({});
    await cloud.terminateSelf();
    expect(ec2.commandCalls(TerminateInstancesCommand).map((c) => c.args[0].input.InstanceIds)).toEqual([[SELF.instanceId], [SELF.instanceId]]);
  });

  it('every port method rejects with a coded error on a 5xx and none throws synchronously', async () => {
    ec2.reset();
    ec2.onAnyCommand().rejects(awsError('InternalError', 500));
    const summary = {
      at: 0,
      busyNow: 0,
      busy1m: 0,
      busy5m: 0,
      busy15m: 0,
      queueWaitP95Ms: 0,
      queueWaitNowMs: 0,
      queueDepth: 0,
      rps: 0,
      inFlight: 0,
      ready: true,
      windowsFilled: true,
    };
    const calls = [
      cloud.listFleet(),
      cloud.launch(REQUEST),
      cloud.markRunning({}),
      cloud.publishSummary(summary),
      cloud.readCommands(),
      cloud.ackCommand('cmd-1', 'done'),
      cloud.markLeaving(),
      cloud.terminateSelf(),
    ];
    const outcomes = await Promise.all(calls.map((p) => p.then(() => 'resolved', (e: { code?: string }) => e.code)));
    expect(outcomes).toEqual(Array(calls.length).fill('GOV_ERR_CLOUD_UNAVAILABLE'));
    expect(await cloud.identity()).toEqual({ id: SELF.instanceId, fleet: FLEET, region: REGION });
  });
});
