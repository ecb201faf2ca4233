import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RunInstancesCommand, type RunInstancesCommandInput } from '@aws-sdk/client-ec2';
import { membershipTags } from '../../governor/cloud/ec2-self.js';
import { TAG } from '../../governor/cloud/ec2-tags.js';
import { startDemoOrigin, type DemoOrigin } from '../../governor/region/origin.js';
import { CREDENTIALS, operatorClient } from '../cloud/ec2-harness.js';
import { FakeCloudWatchServer } from '../fakes/cloudwatch-server.js';
import { FakeEc2Server, type RecordedCall } from '../fakes/ec2-server.js';
import { FakeImdsServer } from '../fakes/imds-server.js';

/**
 * What booting the unpacked bundle needs around it: the AWS fakes describing "this machine",
 * a demo origin, and the governor run as a real child process that cannot reach beyond
 * 127.0.0.1 (loopback-guard.mjs is preloaded, the AWS SDK's shared config and IMDS credential
 * lookup are off, credentials are static fakes).
 */

/** How loopback-guard.mjs starts each line reporting a connection it refused. */
export const GUARD_MARK = 'loopback-guard: refused';

/** For `node --import`: loopback-guard.mjs. */
export const GUARD_URL = new URL('./loopback-guard.mjs', import.meta.url).href;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `probe` every 200 ms until it returns a value, or fails after `timeoutMs` naming `what` and `context()`. */
export async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>, context = () => ''): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await probe();
    if (value !== undefined) return value;
    await sleep(200);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${context() ? `\n${context()}` : ''}`);
}

/** How the operator launched this machine: the first instance of the fleet. */
export const THIS_MACHINE: Omit<RunInstancesCommandInput, 'UserData' | 'TagSpecifications'> = {
  ImageId: 'ami-0fedcba9876543210',
  InstanceType: 'c7g.large',
  MinCount: 1,
  MaxCount: 1,
  SubnetId: 'subnet-0b00700700700b001',
  SecurityGroupIds: ['sg-0b00700700700b001', 'sg-0b00700700700b002'],
  IamInstanceProfile: { Arn: 'arn:aws:iam::123456789012:instance-profile/governor-edge' },
  MetadataOptions: { HttpTokens: 'required', HttpPutResponseHopLimit: 1, HttpEndpoint: 'enabled' },
};

/** The URLs of the fakes user data may name (IMDS is the instance's own: it has no URL before the launch). */
export interface FakeEndpoints {
  ec2: string;
  cloudwatch: string;
  origin: string;
}

/** The fakes of one EC2 instance's world: EC2 (holding the instance), its IMDS, CloudWatch, and an origin. */
export class MachineFakes {
  private constructor(
    readonly ec2: FakeEc2Server,
    readonly imds: FakeImdsServer,
    readonly cloudwatch: FakeCloudWatchServer,
    readonly origin: DemoOrigin,
    /** This machine's instance id. */
    readonly selfId: string,
    /** This machine's user data (text). */
    readonly userData: string,
  ) {}

  /** Starts the fakes; this machine is launched (running) in `region` with the fleet tags and the user data built from the fakes' URLs. */
  static async start(opts: { fleet: string; region: string; userData: (urls: FakeEndpoints) => string }): Promise<MachineFakes> {
    const [ec2, cloudwatch, origin] = await Promise.all([FakeEc2Server.start(), FakeCloudWatchServer.start(), startDemoOrigin({ host: '127.0.0.1', port: 0 })]);
    const userData = opts.userData({ ec2: ec2.url, cloudwatch: cloudwatch.url, origin: origin.url });
    const client = operatorClient(ec2, opts.region);
    let selfId: string;
    try {
      const out = await client.send(
        new RunInstancesCommand({
          ...THIS_MACHINE,
          UserData: Buffer.from(userData).toString('base64'),
          TagSpecifications: [
            {
              ResourceType: 'instance',
              Tags: [{ Key: 'Name', Value: opts.fleet }, ...membershipTags(opts), { Key: TAG.launchedBy, Value: 'operator' }],
            },
          ],
        }),
      );
      selfId = out.Instances![0].InstanceId!;
    } finally {
      client.destroy();
    }
    const self = ec2.instance(selfId)!;
    const imds = await FakeImdsServer.start({
      instanceId: selfId,
      region: self.region,
      availabilityZone: self.availabilityZone,
      imageId: self.imageId,
      instanceType: self.instanceType,
    });
    return new MachineFakes(ec2, imds, cloudwatch, origin, selfId, userData);
  }

  /** RunInstances calls since this machine's own launch (that is, by the governor), failed ones included. */
  launchesSinceBoot(): RecordedCall[] {
    return this.ec2.callsOf('RunInstances').slice(1);
  }

  async close(): Promise<void> {
    await Promise.all([this.ec2.close(), this.imds.close(), this.cloudwatch.close(), this.origin.close()]);
  }
}

/**
 * The environment of the governor under test: nothing inherited but PATH, static fake
 * credentials, no shared AWS config or credentials files, IMDS credentials off, and `extra`.
 */
export function isolatedEnv(home: string, extra: Record<string, string>): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: home,
    AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
    AWS_CONFIG_FILE: join(home, 'no-aws-config'),
    AWS_SHARED_CREDENTIALS_FILE: join(home, 'no-aws-credentials'),
    AWS_EC2_METADATA_DISABLED: 'true',
    ...extra,
  };
}

/** The parent pid of `pid` (from /proc), or undefined when it is gone or a zombie. */
function liveParentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return state === 'Z' ? undefined : Number(ppid);
  } catch {
    return undefined;
  }
}

/** Whether `pid` runs (a zombie does not). */
export function running(pid: number): boolean {
  return liveParentOf(pid) !== undefined;
}

/** Every live descendant of `root` (e.g. node:cluster workers). */
export function descendantsOf(root: number): number[] {
  const parents = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const ppid = liveParentOf(Number(name));
    if (ppid !== undefined) parents.set(Number(name), ppid);
  }
  const found: number[] = [];
  const walk = (pid: number) => {
    for (const [child, parent] of parents) {
      if (parent === pid) {
        found.push(child);
        walk(child);
      }
    }
  };
  walk(root);
  return found;
}

/** `node <cli> ...args` from the unpacked root, as a child process with the loopback guard preloaded. */
export class CliProcess {
  private readonly chunks: string[] = [];
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(cli: string, args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv }) {
    this.child = spawn(process.execPath, ['--import', GUARD_URL, cli, ...args], { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout!.on('data', (chunk: Buffer) => this.chunks.push(chunk.toString()));
    this.child.stderr!.on('data', (chunk: Buffer) => this.chunks.push(chunk.toString()));
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => resolve({ code, signal })));
  }

  /** stdout and stderr so far, interleaved as they arrived. */
  output(): string {
    return this.chunks.join('');
  }

  /** The first match of `pattern` in the output, waiting up to `timeoutMs`; fails early if the process exits. */
  waitForOutput(pattern: RegExp, timeoutMs: number): Promise<RegExpExecArray> {
    return waitFor(
      `${pattern} in the output`,
      timeoutMs,
      async () => {
        const match = pattern.exec(this.output());
        if (!match && this.child.exitCode !== null) throw new Error(`exited with ${this.child.exitCode} before ${pattern}:\n${this.output()}`);
        return match ?? undefined;
      },
      () => this.output(),
    );
  }

  /** Runs to its end (at most `timeoutMs`, then it is killed); resolves with the exit code. */
  async finish(timeoutMs: number): Promise<number | null> {
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    try {
      return (await this.exited).code;
    } finally {
      clearTimeout(timer);
    }
  }
}
