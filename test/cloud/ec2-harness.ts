import { EC2Client, RunInstancesCommand, type RunInstancesCommandInput } from '@aws-sdk/client-ec2';
import { RealClock } from '../../governor/clock.js';
import { Ec2Cloud, type Ec2CloudOptions } from '../../governor/cloud/ec2.js';
import { membershipTags } from '../../governor/cloud/ec2-self.js';
import { TAG } from '../../governor/cloud/ec2-tags.js';
import type { FakeEc2Server } from '../fakes/ec2-server.js';
import { FakeImdsServer } from '../fakes/imds-server.js';

/**
 * What the ec2 tests share. Never contact AWS: every client built here gets an explicit
 * 127.0.0.1 endpoint, static fake credentials and a fixed region name, and every adapter
 * runs with requireExplicitEndpoints, so nothing can fall back to AWS or the real IMDS.
 */

export const FLEET = 'edge';
export const REGION = 'us-east-1';
export const CREDENTIALS = { accessKeyId: 'AKIAFAKEFAKEFAKEFAKE', secretAccessKey: 'fake-secret-key-for-tests-only' };
/** SDK attempts per call in these tests (one retry keeps the standard mode's backoff short). */
export const MAX_ATTEMPTS = 2;

/** `url` itself, after checking that it is a loopback http URL. */
export function loopback(url: string): string {
  const { protocol, hostname } = new URL(url);
  if (protocol !== 'http:' || hostname !== '127.0.0.1') throw new Error(`test endpoint ${url} is not on 127.0.0.1`);
  return url;
}

/** Real timers, with a clock that a test can move forward (now() = wall time + the moves). */
export class ShiftedClock extends RealClock {
  private offset = 0;
  override now(): number {
    return super.now() + this.offset;
  }
  advance(ms: number): void {
    this.offset += ms;
  }
}

/** How an operator starts the first instance of a fleet (the launch the adapter then copies). */
export const FIRST_INSTANCE: RunInstancesCommandInput = {
  ImageId: 'ami-0123456789abcdef0',
  InstanceType: 't3.small',
  MinCount: 1,
  MaxCount: 1,
  SubnetId: 'subnet-0a1b2c3d4e5f60001',
  SecurityGroupIds: ['sg-0aaaaaaaaaaaaaaa1', 'sg-0aaaaaaaaaaaaaaa2'],
  IamInstanceProfile: { Arn: 'arn:aws:iam::123456789012:instance-profile/governor-edge' },
  KeyName: 'ops-key',
  UserData: Buffer.from('#!/bin/sh\nexec governor run --config /etc/governor.yaml\n').toString('base64'),
  MetadataOptions: { HttpTokens: 'required', HttpPutResponseHopLimit: 2, HttpEndpoint: 'enabled' },
};

/** An EC2 client as an operator's tooling would build it, on the fake. */
export function operatorClient(fake: FakeEc2Server, region = REGION): EC2Client {
  return new EC2Client({ region, endpoint: loopback(fake.url), credentials: CREDENTIALS, maxAttempts: 1 });
}

/** Launches a first instance of `fleet` in `region` as an operator would; returns its id. */
export async function launchFirst(fake: FakeEc2Server, where: { fleet?: string; region?: string } = {}): Promise<string> {
  const fleet = where.fleet ?? FLEET;
  const region = where.region ?? REGION;
  const client = operatorClient(fake, region);
  try {
    const out = await client.send(
      new RunInstancesCommand({
        ...FIRST_INSTANCE,
        TagSpecifications: [
          {
            ResourceType: 'instance',
            Tags: [{ Key: 'Name', Value: `${fleet}-edge` }, ...membershipTags({ fleet, region }), { Key: TAG.launchedBy, Value: 'operator' }],
          },
        ],
      }),
    );
    return out.Instances![0].InstanceId!;
  } finally {
    client.destroy();
  }
}

/**
 * Adapters for instances of one fake EC2, each with its own fake IMDS describing it (as each EC2
 * instance has its own). `close()` stops them all.
 */
export class AdapterPool {
  private readonly imds: FakeImdsServer[] = [];
  private readonly adapters: Ec2Cloud[] = [];

  constructor(
    private readonly fake: FakeEc2Server,
    private readonly defaults: Partial<Ec2CloudOptions> & { clock: Ec2CloudOptions['clock'] },
  ) {}

  /** A fake IMDS for instance `id` of the fake EC2. */
  async imdsFor(id: string): Promise<FakeImdsServer> {
    const instance = this.fake.instance(id);
    if (!instance) throw new Error(`the fake EC2 has no instance ${id}`);
    const imds = await FakeImdsServer.start({
      instanceId: id,
      region: instance.region,
      availabilityZone: instance.availabilityZone,
      imageId: instance.imageId,
      instanceType: instance.instanceType,
    });
    this.imds.push(imds);
    return imds;
  }

  /** The adapter as instance `id` runs it: identity from its IMDS, fleet from its tag. */
  async cloudFor(id: string, options: Partial<Ec2CloudOptions> = {}): Promise<Ec2Cloud> {
    const imds = await this.imdsFor(id);
    const cloud = await Ec2Cloud.create({
      fleet: this.fake.instance(id)!.tags[TAG.fleet] ?? FLEET,
      endpoint: loopback(this.fake.url),
      imdsEndpoint: loopback(imds.url),
      imdsTimeoutMs: 2_000,
      credentials: CREDENTIALS,
      maxAttempts: MAX_ATTEMPTS,
      requireExplicitEndpoints: true,
      ...this.defaults,
      ...options,
    });
    this.adapters.push(cloud);
    return cloud;
  }

  async close(): Promise<void> {
    for (const cloud of this.adapters.splice(0)) cloud.close();
    await Promise.all(this.imds.splice(0).map((imds) => imds.close()));
  }
}
