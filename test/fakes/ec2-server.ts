import { randomBytes, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { FakeAwsError, LoopbackFake } from './loopback-fake.js';
import { el, field, items, list, opt, parseQuery, strings, type QueryNode, type Xml } from './query-xml.js';

/**
 * A stateful fake of the EC2 API speaking its real wire protocol (EC2 Query: form-encoded POST,
 * XML responses, `<Response><Errors>` errors), for the real AWS SDK to talk to over HTTP on
 * 127.0.0.1. It implements the calls the ec2 adapter makes: RunInstances (ClientToken
 * idempotency, IdempotentParameterMismatch), DescribeInstances (InstanceIds, Filters, MaxResults /
 * NextToken pagination), DescribeInstanceAttribute (userData), TerminateInstances, CreateTags and
 * DeleteTags. The region of a call is the one in its SigV4 credential scope, and every region is
 * a separate world (as with EC2's regional endpoints). Instances move pending -> running after
 * `pendingMs`, and shutting-down -> terminated after `shuttingDownMs`; terminated instances stay
 * visible. `failNext` makes calls fail with a given AWS error code and HTTP status.
 */

export interface FakeEc2Options {
  /** How long a new instance is pending (default 0: running at the next describe). */
  pendingMs?: number;
  /** How long a terminated instance is shutting-down (default 0). */
  shuttingDownMs?: number;
  /** The server's time (default Date.now). */
  now?: () => number;
}

export interface AwsFailure {
  code: string;
  status: number;
  message?: string;
}

export interface RecordedCall {
  action: string;
  region: string;
  params: Record<string, string>;
  /** The injected failure's code, when the call was failed on purpose. */
  failed?: string;
}

/** What a test can see of a fake instance. */
export interface FakeInstanceView {
  id: string;
  region: string;
  state: string;
  imageId: string;
  instanceType: string;
  availabilityZone: string;
  subnetId?: string;
  securityGroupIds: string[];
  iamInstanceProfileArn?: string;
  keyName?: string;
  userData?: string;
  metadataOptions: { httpTokens: string; httpPutResponseHopLimit: number; httpEndpoint: string; instanceMetadataTags?: string };
  clientToken?: string;
  launchTime: number;
  tags: Record<string, string>;
}

interface FakeInstance extends Omit<FakeInstanceView, 'state' | 'tags'> {
  reservationId: string;
  tags: Map<string, string>;
  terminatedAt?: number;
}

interface RegionState {
  name: string;
  instances: Map<string, FakeInstance>;
  /** ClientToken -> the parameters it was used with and its reservation. */
  tokens: Map<string, { fingerprint: string; reservationId: string }>;
}

const STATE_CODES: Record<string, number> = { pending: 0, running: 16, 'shutting-down': 32, terminated: 48 };
const OWNER_ID = '123456789012';
const MAX_TAGS = 50;
const SCOPE = /Credential=[^/,\s]+\/\d{8}\/([^/]+)\/ec2\/aws4_request/;

const hex = (bytes: number) => randomBytes(bytes).toString('hex');
const newId = (prefix: string) => `${prefix}-${hex(9).slice(0, 17)}`;

/** `*` and `?` wildcards of EC2 filter values. */
function globMatch(pattern: string, value: string): boolean {
  const source = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${source}$`, 's').test(value);
}

function intParam(name: string, value: string | undefined, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new FakeAwsError('InvalidParameterValue', `Value (${value}) for parameter ${name} is invalid. Expected an integer from ${min} to ${max}.`);
  }
  return n;
}

function checkTag(key: string | undefined, value: string): string {
  if (!key || key.length > 128) throw new FakeAwsError('InvalidParameterValue', `Tag key must be 1-128 characters: ${JSON.stringify(key)}`);
  if (key.toLowerCase().startsWith('aws:')) throw new FakeAwsError('InvalidParameterValue', `Tag keys starting with 'aws:' are reserved for internal use`);
  if (value.length > 256) throw new FakeAwsError('InvalidParameterValue', `Tag value for ${key} exceeds 256 characters`);
  return key;
}

export class FakeEc2Server extends LoopbackFake {
  readonly calls: RecordedCall[] = [];
  private readonly regions = new Map<string, RegionState>();
  private readonly failures = new Map<string, AwsFailure[]>();
  private readonly now: () => number;
  private readonly pendingMs: number;
  private readonly shuttingDownMs: number;

  private constructor(opts: FakeEc2Options) {
    super();
    this.now = opts.now ?? Date.now;
    this.pendingMs = opts.pendingMs ?? 0;
    this.shuttingDownMs = opts.shuttingDownMs ?? 0;
  }

  /** Starts a fake on 127.0.0.1 and a free port. */
  static start(opts: FakeEc2Options = {}): Promise<FakeEc2Server> {
    return new FakeEc2Server(opts).listen();
  }

  /** The next `count` calls of `action` (any region) fail with `failure`, before any effect. */
  failNext(action: string, count: number, failure: AwsFailure): void {
    const queue = this.failures.get(action) ?? [];
    for (let i = 0; i < count; i++) queue.push(failure);
    this.failures.set(action, queue);
  }

  callsOf(action: string): RecordedCall[] {
    return this.calls.filter((c) => c.action === action);
  }

  /** Every instance of `region` (terminated ones too), in launch order. */
  instances(region: string): FakeInstanceView[] {
    return [...this.region(region).instances.values()].map((i) => this.view(i));
  }

  instance(id: string): FakeInstanceView | undefined {
    for (const region of this.regions.values()) {
      const found = region.instances.get(id);
      if (found) return this.view(found);
    }
    return undefined;
  }


  private region(name: string): RegionState {
    let state = this.regions.get(name);
    if (!state) this.regions.set(name, (state = { name, instances: new Map(), tokens: new Map() }));
    return state;
  }

  private stateOf(i: FakeInstance): string {
    const now = this.now();
    if (i.terminatedAt !== undefined) return now - i.terminatedAt >= this.shuttingDownMs ? 'terminated' : 'shutting-down';
    return now - i.launchTime >= this.pendingMs ? 'running' : 'pending';
  }

  private view(i: FakeInstance): FakeInstanceView {
    const { reservationId: _r, terminatedAt: _t, tags, ...rest } = i;
    return { ...rest, metadataOptions: { ...i.metadataOptions }, securityGroupIds: [...i.securityGroupIds], state: this.stateOf(i), tags: Object.fromEntries(tags) };
  }

  protected async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const requestId = randomUUID();
    try {
      if (req.method !== 'POST') throw new FakeAwsError('InvalidAction', `EC2 takes POST requests; got ${req.method}`);
      const region = SCOPE.exec(req.headers.authorization ?? '')?.[1];
      if (!region) throw new FakeAwsError('AuthFailure', 'AWS was not able to validate the provided access credentials', 401);
      const { flat, tree } = parseQuery(Buffer.concat(chunks).toString('utf8'));
      const action = flat.get('Action') ?? '';
      const call: RecordedCall = { action, region, params: Object.fromEntries(flat) };
      this.calls.push(call);
      const failure = this.failures.get(action)?.shift();
      if (failure) {
        call.failed = failure.code;
        throw new FakeAwsError(failure.code, failure.message ?? `injected ${failure.code}`, failure.status);
      }
      const body = this.dispatch(action, this.region(region), tree, flat);
      this.reply(res, 200, `<?xml version="1.0" encoding="UTF-8"?>\n<${action}Response xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">${el('requestId', requestId).xml}${body.map((x) => x?.xml ?? '').join('')}</${action}Response>`);
    } catch (err) {
      const e = err instanceof FakeAwsError ? err : new FakeAwsError('InternalError', `fake EC2 failed: ${(err as Error).message}`, 500);
      this.reply(
        res,
        e.status,
        `<?xml version="1.0" encoding="UTF-8"?>\n${el('Response', el('Errors', el('Error', el('Code', e.code), el('Message', e.message))), el('RequestID', requestId)).xml}`,
      );
    }
  }

  private reply(res: ServerResponse, status: number, xml: string): void {
    res.writeHead(status, { 'content-type': 'text/xml;charset=UTF-8', 'content-length': Buffer.byteLength(xml) });
    res.end(xml);
  }

  private dispatch(action: string, region: RegionState, q: Record<string, QueryNode>, flat: Map<string, string>): (Xml | undefined)[] {
    switch (action) {
      case 'RunInstances':
        return this.runInstances(region, q, flat);
      case 'DescribeInstances':
        return this.describeInstances(region, q, flat);
      case 'DescribeInstanceAttribute':
        return this.describeInstanceAttribute(region, q);
      case 'TerminateInstances':
        return this.terminateInstances(region, q);
      case 'CreateTags':
        return this.changeTags(region, q, 'create');
      case 'DeleteTags':
        return this.changeTags(region, q, 'delete');
      default:
        throw new FakeAwsError('InvalidAction', `The action ${action} is not valid for this web service.`);
    }
  }

  private find(region: RegionState, ids: string[]): FakeInstance[] {
    const missing = ids.filter((id) => !region.instances.has(id));
    if (missing.length > 0) throw new FakeAwsError('InvalidInstanceID.NotFound', `The instance IDs '${missing.join(', ')}' do not exist`);
    return ids.map((id) => region.instances.get(id)!);
  }

  private runInstances(region: RegionState, q: Record<string, QueryNode>, flat: Map<string, string>): Xml[] {
    const token = field(q, 'ClientToken');
    const fingerprint = [...flat]
      .filter(([k]) => !['Action', 'Version', 'ClientToken'].includes(k))
      .map(([k, v]) => `${k}=${v}`)
      .sort()
      .join('\n');
    if (token !== undefined) {
      const used = region.tokens.get(token);
      if (used && used.fingerprint !== fingerprint) {
        throw new FakeAwsError('IdempotentParameterMismatch', `The client token ${token} was used with different parameters`);
      }
      if (used) return this.reservationXml(region, used.reservationId);
    }
    const imageId = field(q, 'ImageId');
    if (!imageId) throw new FakeAwsError('MissingParameter', 'The request must contain the parameter ImageId');
    if (!/^ami-[0-9a-f]+$/.test(imageId)) throw new FakeAwsError('InvalidAMIID.Malformed', `Invalid id: "${imageId}"`);
    const minCount = intParam('MinCount', field(q, 'MinCount'), 1, 100);
    const maxCount = intParam('MaxCount', field(q, 'MaxCount'), 1, 100);
    if (minCount === undefined || maxCount === undefined) throw new FakeAwsError('MissingParameter', 'The request must contain MinCount and MaxCount');
    if (minCount > maxCount) throw new FakeAwsError('InvalidParameterValue', 'MinCount must not exceed MaxCount');
    const metadata = q.MetadataOptions;
    const httpTokens = field(metadata, 'HttpTokens') ?? 'required';
    if (!['optional', 'required'].includes(httpTokens)) throw new FakeAwsError('InvalidParameterValue', `Invalid HttpTokens: ${httpTokens}`);
    const tags = new Map<string, string>();
    for (const spec of items(q.TagSpecification)) {
      if (field(spec, 'ResourceType') !== 'instance') continue;
      for (const tag of items(typeof spec === 'object' ? spec.Tag : undefined)) {
        const value = field(tag, 'Value') ?? '';
        tags.set(checkTag(field(tag, 'Key'), value), value);
      }
    }
    if (tags.size > MAX_TAGS) throw new FakeAwsError('TagLimitExceeded', `An instance can have at most ${MAX_TAGS} tags`);
    const regionName = region.name;
    const reservationId = newId('r');
    const subnetId = field(q, 'SubnetId');
    for (let n = 0; n < maxCount; n++) {
      const instance: FakeInstance = {
        id: newId('i'),
        reservationId,
        region: regionName,
        imageId,
        instanceType: field(q, 'InstanceType') ?? 'm1.small',
        availabilityZone: `${regionName}a`,
        subnetId,
        securityGroupIds: strings(q.SecurityGroupId),
        iamInstanceProfileArn: field(q.IamInstanceProfile, 'Arn'),
        keyName: field(q, 'KeyName'),
        userData: field(q, 'UserData'),
        metadataOptions: {
          httpTokens,
          httpPutResponseHopLimit: intParam('HttpPutResponseHopLimit', field(metadata, 'HttpPutResponseHopLimit'), 1, 64) ?? 1,
          httpEndpoint: field(metadata, 'HttpEndpoint') ?? 'enabled',
          instanceMetadataTags: field(metadata, 'InstanceMetadataTags'),
        },
        clientToken: token,
        launchTime: this.now(),
        tags: new Map(tags),
      };
      region.instances.set(instance.id, instance);
    }
    if (token !== undefined) region.tokens.set(token, { fingerprint, reservationId });
    return this.reservationXml(region, reservationId, 'pending');
  }

  /** RunInstances' answer: the reservation's fields at the top level (a fresh launch reports 'pending'). */
  private reservationXml(region: RegionState, reservationId: string, state?: string): Xml[] {
    const members = [...region.instances.values()].filter((i) => i.reservationId === reservationId);
    return [el('reservationId', reservationId), el('ownerId', OWNER_ID), el('groupSet'), list('instancesSet', members, (i) => this.instanceXml(i, state))];
  }

  private instanceXml(i: FakeInstance, stateOverride?: string): (Xml | undefined)[] {
    const state = stateOverride ?? this.stateOf(i);
    const m = i.metadataOptions;
    return [
      el('instanceId', i.id),
      el('imageId', i.imageId),
      el('instanceState', el('code', STATE_CODES[state]), el('name', state)),
      el('privateDnsName', `ip-10-0-0-1.${i.region}.compute.internal`),
      opt('keyName', i.keyName),
      el('amiLaunchIndex', 0),
      el('instanceType', i.instanceType),
      el('launchTime', new Date(i.launchTime).toISOString()),
      el('placement', el('availabilityZone', i.availabilityZone), el('tenancy', 'default')),
      opt('subnetId', i.subnetId),
      el('vpcId', 'vpc-0fa1e0000000000aa'),
      list('groupSet', i.securityGroupIds, (g) => [el('groupId', g), el('groupName', `name-of-${g}`)]),
      i.iamInstanceProfileArn ? el('iamInstanceProfile', el('arn', i.iamInstanceProfileArn), el('id', 'AIPAFAKEPROFILE0000000')) : undefined,
      opt('clientToken', i.clientToken),
      i.tags.size > 0 ? list('tagSet', [...i.tags], ([key, value]) => [el('key', key), el('value', value)]) : undefined,
      el(
        'metadataOptions',
        el('state', 'applied'),
        el('httpTokens', m.httpTokens),
        el('httpPutResponseHopLimit', m.httpPutResponseHopLimit),
        el('httpEndpoint', m.httpEndpoint),
        opt('instanceMetadataTags', m.instanceMetadataTags),
      ),
    ];
  }

  private matches(i: FakeInstance, name: string, values: string[]): boolean {
    const any = (actual: string | undefined) => actual !== undefined && values.some((v) => globMatch(v, actual));
    if (name.startsWith('tag:')) return any(i.tags.get(name.slice(4)));
    switch (name) {
      case 'instance-id':
        return any(i.id);
      case 'instance-state-name':
        return any(this.stateOf(i));
      case 'client-token':
        return any(i.clientToken);
      case 'image-id':
        return any(i.imageId);
      case 'tag-key':
        return [...i.tags.keys()].some((k) => any(k));
      default:
        throw new FakeAwsError('InvalidParameterValue', `The filter '${name}' is invalid`);
    }
  }

  private describeInstances(region: RegionState, q: Record<string, QueryNode>, flat: Map<string, string>): (Xml | undefined)[] {
    const ids = strings(q.InstanceId);
    const maxResults = intParam('MaxResults', field(q, 'MaxResults'), 5, 1000);
    if (ids.length > 0 && maxResults !== undefined) {
      throw new FakeAwsError('InvalidParameterCombination', 'The parameter instancesSet cannot be used with the parameter maxResults');
    }
    const filters = items(q.Filter).map((f) => ({ name: field(f, 'Name') ?? '', values: strings(typeof f === 'object' ? f.Value : undefined) }));
    let selected = ids.length > 0 ? this.find(region, ids) : [...region.instances.values()];
    selected = selected.filter((i) => filters.every((f) => this.matches(i, f.name, f.values)));

    const query = [...flat].filter(([k]) => k !== 'NextToken').map(([k, v]) => `${k}=${v}`).sort().join('&');
    let offset = 0;
    const token = field(q, 'NextToken');
    if (token !== undefined) {
      const decoded = JSON.parse(Buffer.from(token, 'base64url').toString('utf8') || '{}') as { o?: number; q?: string };
      if (decoded.q !== query || typeof decoded.o !== 'number') throw new FakeAwsError('InvalidParameterValue', 'Invalid value for NextToken');
      offset = decoded.o;
    }
    const end = maxResults === undefined ? selected.length : Math.min(selected.length, offset + maxResults);
    const page = selected.slice(offset, end);
    const reservations = [...new Set(page.map((i) => i.reservationId))];
    const next = end < selected.length ? Buffer.from(JSON.stringify({ o: end, q: query })).toString('base64url') : undefined;
    return [
      list('reservationSet', reservations, (r) => [
        el('reservationId', r),
        el('ownerId', OWNER_ID),
        el('groupSet'),
        list(
          'instancesSet',
          page.filter((i) => i.reservationId === r),
          (i) => this.instanceXml(i),
        ),
      ]),
      opt('nextToken', next),
    ];
  }

  private describeInstanceAttribute(region: RegionState, q: Record<string, QueryNode>): Xml[] {
    const id = field(q, 'InstanceId');
    if (!id) throw new FakeAwsError('MissingParameter', 'The request must contain the parameter InstanceId');
    const attribute = field(q, 'Attribute');
    if (attribute !== 'userData') throw new FakeAwsError('InvalidParameterValue', `Value (${attribute}) for parameter attribute is invalid (the fake knows userData only)`);
    const [instance] = this.find(region, [id]);
    return [el('instanceId', id), el('userData', opt('value', instance.userData))];
  }

  private terminateInstances(region: RegionState, q: Record<string, QueryNode>): Xml[] {
    const targets = this.find(region, strings(q.InstanceId));
    const changes = targets.map((i) => {
      const previous = this.stateOf(i);
      i.terminatedAt ??= this.now();
      return { i, previous, current: this.stateOf(i) };
    });
    return [
      list('instancesSet', changes, ({ i, previous, current }) => [
        el('instanceId', i.id),
        el('currentState', el('code', STATE_CODES[current]), el('name', current)),
        el('previousState', el('code', STATE_CODES[previous]), el('name', previous)),
      ]),
    ];
  }

  private changeTags(region: RegionState, q: Record<string, QueryNode>, how: 'create' | 'delete'): Xml[] {
    const targets = this.find(region, strings(q.ResourceId));
    const tags = items(q.Tag).map((t) => ({ key: field(t, 'Key'), value: field(t, 'Value') }));
    if (how === 'create') {
      if (tags.length === 0) throw new FakeAwsError('MissingParameter', 'The request must contain the parameter Tag');
      for (const t of tags) checkTag(t.key, t.value ?? '');
      for (const i of targets) {
        const keys = new Set([...i.tags.keys(), ...tags.map((t) => t.key!)]);
        if (keys.size > MAX_TAGS) throw new FakeAwsError('TagLimitExceeded', `Instance ${i.id} would have more than ${MAX_TAGS} tags`);
      }
      for (const i of targets) for (const t of tags) i.tags.set(t.key!, t.value ?? '');
    } else if (tags.length === 0) {
      for (const i of targets) i.tags.clear();
    } else {
      for (const i of targets) {
        for (const t of tags) if (t.key !== undefined && (t.value === undefined || i.tags.get(t.key) === t.value)) i.tags.delete(t.key);
      }
    }
    return [el('return', true)];
  }
}
