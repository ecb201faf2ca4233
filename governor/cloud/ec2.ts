import {
  CreateTagsCommand,
  DeleteTagsCommand,
  DescribeInstancesCommand,
  EC2Client,
  RunInstancesCommand,
  TerminateInstancesCommand,
  type EC2ClientConfig,
  type Filter,
  type Instance,
  type Tag,
} from '@aws-sdk/client-ec2';
import type { Logger } from 'pino';
import type { Clock } from '../clock.js';
import { GovError } from '../errors.js';
import { awsErrorCode, ec2CloudError } from './ec2-errors.js';
import { readInstanceIdentity, type InstanceIdentityDocument } from './ec2-identity.js';
import { describeSelf, runInstancesInput, type CloneSpec } from './ec2-self.js';
import { TargetGroupMembership, type TargetGroupOptions } from './ec2-target-group.js';
import {
  TAG,
  ackValue,
  decodeCommand,
  decodeSummary,
  encodeSummary,
  endpointTags,
  endpointsFromTags,
  isCommandTag,
  memberState,
  tagMap,
} from './ec2-tags.js';
import type { CloudMethod } from './failures.js';
import type { Cloud, Command, Endpoints, Identity, InstanceInfo, LaunchRequest, LaunchResult, SignalSummary } from './port.js';
import { checkId, checkLaunchRequest, checkText, normalizeEndpoints, normalizeSummary } from './port-input.js';

export interface Ec2CloudOptions {
  fleet: string;
  /** This instance as IMDS describes it (Ec2Cloud.create reads it). */
  self: InstanceIdentityDocument;
  clock: Clock;
  /** EC2 API endpoint (http(s) URL); default: the region's public endpoint. */
  endpoint?: string;
  /** Default: the SDK's default credential chain (on EC2: the instance profile). */
  credentials?: EC2ClientConfig['credentials'];
  /** Attempts per EC2 call in the SDK's standard retry mode (default 3). */
  maxAttempts?: number;
  /** DescribeInstances page size of listFleet, 5-1000 (default 1000). */
  pageSize?: number;
  /** publishSummary writes the summary tag at most this often (default 10 000 ms). */
  summaryMinIntervalMs?: number;
  /**
   * An unchanged summary (all but its time) is written again only after this (default 20 000 ms):
   * below the 30 s after which peers ignore a summary as stale.
   */
  summaryRefreshMs?: number;
  /** Refuse to start without an explicit endpoint and credentials (and IMDS endpoint, in create()). */
  requireExplicitEndpoints?: boolean;
  /**
   * A load balancer target group this instance joins on markRunning (the proxy's port) and
   * leaves on markLeaving, waiting up to deregistrationWaitMs for the balancer's deregistration
   * delay. Its calls use this adapter's credentials and retry settings.
   */
  targetGroup?: Pick<TargetGroupOptions, 'arn' | 'endpoint' | 'deregistrationWaitMs' | 'pollSeconds'>;
  log?: Logger;
}

export interface Ec2CreateOptions extends Omit<Ec2CloudOptions, 'self'> {
  /** IMDS base URL; default: the SDK's (http://169.254.169.254 unless configured). */
  imdsEndpoint?: string;
  /** Bound of the identity read. */
  imdsTimeoutMs: number;
}

const DEFAULTS = {
  maxAttempts: 3,
  pageSize: 1000,
  summaryMinIntervalMs: 10_000,
  summaryRefreshMs: 20_000,
};
/** listFleet reads at most this many DescribeInstances pages (a guard against a token loop). */
const MAX_PAGES = 100;
/** Acknowledged command ids remembered, so acknowledging twice is harmless. */
const MAX_REMEMBERED_ACKS = 100;
const MAX_OUTCOME_LENGTH = 512;
const FLEET_STATES = ['pending', 'running', 'shutting-down'];

/**
 * The port of the proxy endpoint a target group sends traffic to, from endpoints checked by
 * normalizeEndpoints (so the URL parses); GOV_ERR_CLOUD_BAD_REQUEST without a proxy endpoint.
 */
function proxyPort(endpoints: Endpoints): number {
  if (endpoints.proxy === undefined) {
    throw new GovError('GOV_ERR_CLOUD_BAD_REQUEST', 'markRunning: a target group needs the proxy endpoint with a port (e.g. http://10.0.0.5:8080)', {
      method: 'markRunning',
      proxy: null,
    });
  }
  const url = new URL(endpoints.proxy);
  return Number(url.port || (url.protocol === 'https:' ? 443 : 80));
}

function configError(key: string, message: string, value?: unknown): GovError {
  return new GovError('GOV_ERR_CONFIG_INVALID', `cloud.ec2.${key}: ${message}`, { key: `cloud.ec2.${key}`, value });
}

function checkEndpoint(key: string, value: string | undefined, required: boolean): void {
  if (value === undefined) {
    if (required) throw configError(key, 'must be set when requireExplicitEndpoints is on (no fallback to AWS or the real IMDS)');
    return;
  }
  if (!URL.canParse(value) || !/^https?:$/.test(new URL(value).protocol)) throw configError(key, 'must be an http(s) URL', value);
}

/**
 * The EC2 endpoint (and a target group's ELB endpoint) is a URL when given; with
 * requireExplicitEndpoints, they and the credentials must be given.
 */
function checkEc2Access(opts: Pick<Ec2CloudOptions, 'endpoint' | 'credentials' | 'requireExplicitEndpoints' | 'targetGroup'>): void {
  const explicit = opts.requireExplicitEndpoints === true;
  checkEndpoint('endpoint', opts.endpoint, explicit);
  if (opts.targetGroup !== undefined) checkEndpoint('targetGroup.endpoint', opts.targetGroup.endpoint, explicit);
  if (explicit && opts.credentials === undefined) {
    throw configError('credentials', 'must be given when requireExplicitEndpoints is on (no default credential chain)');
  }
}

/** Where this process is in its own life: markRunning only while active, no change after terminateSelf. */
type SelfPhase = 'active' | 'leaving' | 'terminated';

/**
 * The Cloud port over AWS EC2 (DESIGN.md convention 3), the only code that talks to AWS.
 *
 * Contract, beyond the port's:
 * - Identity comes from IMDSv2 (create()); the fleet from configuration.
 * - Fleet membership is the tags governor:fleet and governor:region; listFleet is one paginated
 *   DescribeInstances filtered by both and by the states pending, running and shutting-down, with
 *   EC2's launch times; a running instance is 'pending' until its governor calls markRunning, and
 *   'leaving' once it calls markLeaving or EC2 shuts it down (see memberState).
 * - launch() copies this instance (ec2-self.ts) with `req.token` as ClientToken. A token already
 *   used (by this instance or a peer, whatever the parameters) returns the instance it launched
 *   with created: false and launches nothing. Throttling, 5xx and InsufficientInstanceCapacity
 *   are retried by the SDK (standard mode, same token, so never a second instance) and then
 *   rejected with GOV_ERR_CLOUD_THROTTLED / _UNAVAILABLE / _CAPACITY; an
 *   IdempotentParameterMismatch whose instance cannot be found is GOV_ERR_CLOUD_SLOT_TAKEN.
 * - State, endpoints, summary and commands are instance tags (ec2-tags.ts); publishSummary
 *   writes at most every summaryMinIntervalMs and skips an unchanged summary until
 *   summaryRefreshMs. terminateSelf terminates this instance only.
 * - Every failure rejects with a GOV_ERR_CLOUD_* GovError (ec2-errors.ts).
 */
export class Ec2Cloud implements Cloud {
  private readonly ec2: EC2Client;
  private readonly me: Identity;
  private readonly clock: Clock;
  private readonly log?: Logger;
  private readonly pageSize: number;
  private readonly summaryMinIntervalMs: number;
  private readonly summaryRefreshMs: number;
  private phase: SelfPhase = 'active';
  private clone?: Promise<CloneSpec>;
  private lastSummary?: { at: number; fingerprint: string };
  private readonly acked: string[] = [];
  private readonly targetGroup?: TargetGroupMembership;
  /** The port this instance is registered with in the target group, once markRunning did it. */
  private targetPort?: number;

  /** Reads this instance's identity from IMDS, then builds the adapter. */
  static async create(opts: Ec2CreateOptions): Promise<Ec2Cloud> {
    const { imdsEndpoint, imdsTimeoutMs, ...rest } = opts;
    checkEndpoint('imdsEndpoint', imdsEndpoint, opts.requireExplicitEndpoints === true);
    checkEc2Access(opts);
    const self = await readInstanceIdentity({ endpoint: imdsEndpoint, timeoutMs: imdsTimeoutMs, clock: opts.clock });
    return new Ec2Cloud({ ...rest, self });
  }

  constructor(opts: Ec2CloudOptions) {
    checkEc2Access(opts);
    const pageSize = opts.pageSize ?? DEFAULTS.pageSize;
    if (!Number.isInteger(pageSize) || pageSize < 5 || pageSize > 1000) throw configError('pageSize', 'must be an integer from 5 to 1000', pageSize);
    const maxAttempts = opts.maxAttempts ?? DEFAULTS.maxAttempts;
    if (!Number.isInteger(maxAttempts) || maxAttempts < 1) throw configError('maxAttempts', 'must be a positive integer', maxAttempts);

    this.me = { id: checkId('self.instanceId', opts.self.instanceId), fleet: checkText('fleet', opts.fleet, 128), region: opts.self.region };
    this.clock = opts.clock;
    this.log = opts.log;
    this.pageSize = pageSize;
    this.summaryMinIntervalMs = opts.summaryMinIntervalMs ?? DEFAULTS.summaryMinIntervalMs;
    this.summaryRefreshMs = opts.summaryRefreshMs ?? DEFAULTS.summaryRefreshMs;
    this.ec2 = new EC2Client({
      region: opts.self.region,
      ...(opts.endpoint === undefined ? {} : { endpoint: opts.endpoint }),
      ...(opts.credentials === undefined ? {} : { credentials: opts.credentials }),
      retryMode: 'standard',
      maxAttempts,
    });
    if (opts.targetGroup !== undefined) {
      this.targetGroup = new TargetGroupMembership(
        { ...opts.targetGroup, region: opts.self.region, credentials: opts.credentials, maxAttempts },
        this.me.id,
      );
    }
  }

  /** Releases the SDK clients' connections; the adapter is not used afterwards. */
  close(): void {
    this.ec2.destroy();
    this.targetGroup?.close();
  }

  identity(): Promise<Identity> {
    return Promise.resolve({ ...this.me });
  }

  listFleet(): Promise<InstanceInfo[]> {
    return this.call('listFleet', async () => {
      const filters: Filter[] = [
        { Name: `tag:${TAG.fleet}`, Values: [this.me.fleet] },
        { Name: `tag:${TAG.region}`, Values: [this.me.region] },
        { Name: 'instance-state-name', Values: FLEET_STATES },
      ];
      const members: InstanceInfo[] = [];
      let nextToken: string | undefined;
      for (let page = 0; page < MAX_PAGES; page++) {
        const out = await this.ec2.send(new DescribeInstancesCommand({ Filters: filters, MaxResults: this.pageSize, NextToken: nextToken }));
        for (const instance of out.Reservations?.flatMap((r) => r.Instances ?? []) ?? []) {
          const info = this.memberInfo(instance);
          if (info) members.push(info);
        }
        nextToken = out.NextToken || undefined;
        if (!nextToken) return members;
      }
      throw new GovError('GOV_ERR_CLOUD_UNAVAILABLE', `listFleet: DescribeInstances returned more than ${MAX_PAGES} pages`, { method: 'listFleet' });
    });
  }

  launch(req: LaunchRequest): Promise<LaunchResult> {
    return this.call('launch', async () => {
      const checked = checkLaunchRequest(req);
      const earlier = await this.instanceWithToken(checked.token);
      if (earlier) return { id: earlier, created: false };
      const input = runInstancesInput(await this.cloneSpec(), checked, this.me);
      try {
        const out = await this.ec2.send(new RunInstancesCommand(input));
        const id = out.Instances?.[0]?.InstanceId;
        if (!id) throw new GovError('GOV_ERR_CLOUD_UNAVAILABLE', 'launch: RunInstances returned no instance', { method: 'launch' });
        return { id, created: true };
      } catch (err) {
        if (awsErrorCode(err) !== 'IdempotentParameterMismatch') throw err;
        // A peer used this token with its own parameters (its launched-by tag): the slot is taken.
        const peers = await this.instanceWithToken(checked.token);
        if (peers) {
          this.log?.info({ token: checked.token, slot: checked.slot, id: peers }, 'launch slot taken by a peer');
          return { id: peers, created: false };
        }
        throw new GovError(
          'GOV_ERR_CLOUD_SLOT_TAKEN',
          `launch: token ${checked.token} of slot ${checked.slot} was used with other parameters and its instance is gone`,
          { method: 'launch', token: checked.token, slot: checked.slot, awsCode: 'IdempotentParameterMismatch' },
          { cause: err },
        );
      }
    });
  }

  markRunning(endpoints: Endpoints): Promise<void> {
    return this.call('markRunning', async () => {
      this.requirePhase('markRunning', ['active']);
      const checked = normalizeEndpoints(endpoints);
      // checked before anything is written: a call refused for its input changes nothing
      const port = this.targetGroup === undefined ? undefined : proxyPort(checked);
      const tags = endpointTags(checked);
      const set: Tag[] = [{ Key: TAG.state, Value: 'running' }];
      const unset: Tag[] = [];
      for (const [Key, Value] of Object.entries(tags)) {
        if (Value === undefined) unset.push({ Key });
        else set.push({ Key, Value });
      }
      await this.ec2.send(new CreateTagsCommand({ Resources: [this.me.id], Tags: set }));
      if (unset.length > 0) await this.ec2.send(new DeleteTagsCommand({ Resources: [this.me.id], Tags: unset }));
      if (this.targetGroup !== undefined && port !== undefined) {
        await this.targetGroup.register(port, 'markRunning');
        this.targetPort = port;
        this.log?.info({ targetGroup: this.targetGroup.arn, port }, 'registered with the load balancer target group');
      }
    });
  }

  markLeaving(): Promise<void> {
    return this.call('markLeaving', async () => {
      this.requirePhase('markLeaving', ['active', 'leaving']);
      await this.ec2.send(new CreateTagsCommand({ Resources: [this.me.id], Tags: [{ Key: TAG.state, Value: 'leaving' }] }));
      this.phase = 'leaving';
      const port = this.targetPort;
      if (this.targetGroup === undefined || port === undefined) return;
      const outcome = await this.targetGroup.deregister(port, 'markLeaving');
      this.targetPort = undefined;
      if (outcome === 'deregistered') this.log?.info({ targetGroup: this.targetGroup.arn, port }, 'deregistered from the load balancer target group');
      else this.log?.warn({ targetGroup: this.targetGroup.arn, port }, 'deregistered, but the load balancer was still draining this target when the wait ran out');
    });
  }

  terminateSelf(): Promise<void> {
    return this.call('terminateSelf', async () => {
      await this.ec2.send(new TerminateInstancesCommand({ InstanceIds: [this.me.id] }));
      this.phase = 'terminated';
    });
  }

  publishSummary(summary: SignalSummary): Promise<void> {
    return this.call('publishSummary', async () => {
      this.requirePhase('publishSummary', ['active', 'leaving']);
      const normalized = normalizeSummary(summary);
      const value = encodeSummary(normalized);
      const fingerprint = encodeSummary({ ...normalized, at: 0 });
      const now = this.clock.now();
      const last = this.lastSummary;
      if (last) {
        const age = now - last.at;
        if (age < this.summaryMinIntervalMs) return;
        if (last.fingerprint === fingerprint && age < this.summaryRefreshMs) return;
      }
      await this.ec2.send(new CreateTagsCommand({ Resources: [this.me.id], Tags: [{ Key: TAG.summary, Value: value }] }));
      this.lastSummary = { at: now, fingerprint };
    });
  }

  readCommands(): Promise<Command[]> {
    return this.call('readCommands', async () => {
      const now = this.clock.now();
      const mine: Command[] = [];
      const expired: Tag[] = [];
      for (const [key, command] of await this.commandsOnSelf()) {
        if (command.expiresAt <= now) expired.push({ Key: key });
        else if (command.fleet === this.me.fleet) mine.push(command);
      }
      if (expired.length > 0) await this.removeExpired(expired);
      return mine.sort((a, b) => a.issuedAt - b.issuedAt || a.id.localeCompare(b.id));
    });
  }

  ackCommand(id: string, outcome: string): Promise<void> {
    return this.call('ackCommand', async () => {
      checkId('command id', id);
      checkText('outcome', outcome, MAX_OUTCOME_LENGTH);
      const open = [...(await this.commandsOnSelf())].find(([, c]) => c.id === id && c.fleet === this.me.fleet);
      if (!open) {
        if (this.acked.includes(id)) return;
        throw new GovError('GOV_ERR_CLOUD_NOT_FOUND', `no open command ${id} for instance ${this.me.id}`, { id, instance: this.me.id });
      }
      // The acknowledgement is recorded before the command is removed: a failure in between loses nothing.
      await this.ec2.send(new CreateTagsCommand({ Resources: [this.me.id], Tags: [{ Key: TAG.ack, Value: ackValue(id, outcome) }] }));
      await this.ec2.send(new DeleteTagsCommand({ Resources: [this.me.id], Tags: [{ Key: open[0] }] }));
      this.acked.push(id);
      if (this.acked.length > MAX_REMEMBERED_ACKS) this.acked.shift();
      this.log?.info({ command: id, outcome }, 'command acknowledged');
    });
  }

  /** The member this EC2 instance is, or undefined when it is not one (not listed). */
  private memberInfo(instance: Instance): InstanceInfo | undefined {
    const tags = tagMap(instance.Tags);
    const state = memberState(instance.State?.Name, tags.get(TAG.state));
    if (!instance.InstanceId || !instance.LaunchTime || !state) return undefined;
    const info: InstanceInfo = {
      id: instance.InstanceId,
      fleet: tags.get(TAG.fleet) ?? this.me.fleet,
      region: tags.get(TAG.region) ?? this.me.region,
      state,
      launchTime: instance.LaunchTime.getTime(),
    };
    const launchedBy = tags.get(TAG.launchedBy);
    const launchSlot = tags.get(TAG.launchSlot);
    const summaryTag = tags.get(TAG.summary);
    const summary = summaryTag === undefined ? undefined : decodeSummary(summaryTag);
    const endpoints = endpointsFromTags(tags);
    if (launchedBy !== undefined) info.launchedBy = launchedBy;
    if (launchSlot !== undefined) info.launchSlot = launchSlot;
    if (summary) info.summary = summary;
    else if (summaryTag !== undefined) this.log?.warn({ id: instance.InstanceId, value: summaryTag }, 'ignoring an unreadable summary tag');
    if (endpoints) info.endpoints = endpoints;
    return info;
  }

  /** The instance launched with ClientToken `token` (in any state), if any. */
  private async instanceWithToken(token: string): Promise<string | undefined> {
    const out = await this.ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'client-token', Values: [token] }] }));
    return out.Reservations?.flatMap((r) => r.Instances ?? []).find((i) => i.InstanceId)?.InstanceId;
  }

  /** This instance's clone spec, described once; a failed description is retried by the next launch. */
  private cloneSpec(): Promise<CloneSpec> {
    this.clone ??= describeSelf(this.ec2, this.me.id).catch((err: unknown) => {
      this.clone = undefined;
      throw err;
    });
    return this.clone;
  }

  /** The well-formed command tags on this instance (malformed ones are skipped with a warning). */
  private async commandsOnSelf(): Promise<Map<string, Command>> {
    const out = await this.ec2.send(new DescribeInstancesCommand({ InstanceIds: [this.me.id] }));
    const self = out.Reservations?.flatMap((r) => r.Instances ?? []).find((i) => i.InstanceId === this.me.id);
    const commands = new Map<string, Command>();
    for (const [key, value] of tagMap(self?.Tags)) {
      if (!isCommandTag(key)) continue;
      try {
        commands.set(key, decodeCommand(key, value, this.me.id));
      } catch (err) {
        this.log?.warn({ key, value, err }, 'ignoring a malformed command tag');
      }
    }
    return commands;
  }

  /** Drops expired command tags; a failure only delays that to the next read. */
  private async removeExpired(tags: Tag[]): Promise<void> {
    try {
      await this.ec2.send(new DeleteTagsCommand({ Resources: [this.me.id], Tags: tags }));
    } catch (err) {
      this.log?.warn({ err: ec2CloudError('readCommands', err) }, 'could not remove expired command tags');
    }
  }

  private requirePhase(method: CloudMethod, allowed: readonly SelfPhase[]): void {
    if (!allowed.includes(this.phase)) {
      throw new GovError('GOV_ERR_CLOUD_BAD_STATE', `${method} is not allowed for instance ${this.me.id} once it is ${this.phase}`, {
        method,
        id: this.me.id,
        phase: this.phase,
      });
    }
  }

  /** Runs one port call; any failure becomes a coded GovError. */
  private async call<T>(method: CloudMethod, body: () => Promise<T>): Promise<T> {
    try {
      return await body();
    } catch (err) {
      throw ec2CloudError(method, err);
    }
  }
}
