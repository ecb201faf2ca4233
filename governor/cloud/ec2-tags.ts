import { GovError } from '../errors.js';
import type { Command, Endpoints, InstanceState, SignalSummary } from './port.js';
import { checkCommand } from './port-input.js';

/**
 * How the ec2 adapter keeps governor state on EC2 instance tags, so that one DescribeInstances
 * call shows a peer everything about the fleet. Contract: every value written fits EC2's limits
 * (keys at most 128 characters, values at most 256); an encoding that would not fit is refused
 * with GOV_ERR_CLOUD_BAD_REQUEST before anything is sent; a tag that does not decode is ignored
 * by readers (never fails a listing).
 */

/** Tags every fleet member carries (set at launch) or updates about itself. */
export const TAG = {
  /** Fleet membership: the fleet name. */
  fleet: 'governor:fleet',
  /** Fleet membership: the region (one fleet is scaled per region). */
  region: 'governor:region',
  /** Instance id of the launcher, or 'operator'. */
  launchedBy: 'governor:launched-by',
  /** The coordination launch slot this instance filled. */
  launchSlot: 'governor:launch-slot',
  /** 'running' once the governor serves, 'leaving' once a controlled shutdown began. */
  state: 'governor:state',
  /** The compact signal summary (encodeSummary). */
  summary: 'governor:summary',
  /** Endpoints recorded by markRunning. */
  proxy: 'governor:proxy',
  admin: 'governor:admin',
  /** The last command acknowledgement: `<id>: <outcome>`. */
  ack: 'governor:ack',
} as const;

/** Every tag the governor manages starts with this; they are never copied to a launched instance. */
export const GOVERNOR_TAG_PREFIX = 'governor:';
/** An operator command addressed to the tagged instance: `governor:cmd:<command id>`. */
export const COMMAND_TAG_PREFIX = 'governor:cmd:';

export const MAX_TAG_KEY_LENGTH = 128;
export const MAX_TAG_VALUE_LENGTH = 256;

export interface TagLike {
  Key?: string;
  Value?: string;
}

export function tagMap(tags: readonly TagLike[] | undefined): Map<string, string> {
  const map = new Map<string, string>();
  for (const tag of tags ?? []) if (tag.Key !== undefined) map.set(tag.Key, tag.Value ?? '');
  return map;
}

function checkTagValue(field: string, value: string): string {
  if (value.length > MAX_TAG_VALUE_LENGTH) {
    throw new GovError('GOV_ERR_CLOUD_BAD_REQUEST', `${field} takes ${value.length} characters as an EC2 tag value; at most ${MAX_TAG_VALUE_LENGTH} fit`, {
      field,
      length: value.length,
      expected: `at most ${MAX_TAG_VALUE_LENGTH} characters`,
    });
  }
  return value;
}

/**
 * The member state peers see: EC2's instance state, refined by the governor's own state tag.
 * A running instance whose governor has not called markRunning yet is still 'pending' (booting);
 * 'shutting-down' is 'leaving'; stopped, stopping and terminated instances are not members
 * (undefined).
 */
export function memberState(ec2State: string | undefined, stateTag: string | undefined): InstanceState | undefined {
  switch (ec2State) {
    case 'pending':
      return 'pending';
    case 'running':
      if (stateTag === 'leaving') return 'leaving';
      return stateTag === 'running' ? 'running' : 'pending';
    case 'shutting-down':
      return 'leaving';
    default:
      return undefined;
  }
}

/** Summary fields in tag order: [tag field, summary key]; `at` is stored in whole seconds as `t`. */
const SUMMARY_NUMBERS = [
  ['b0', 'busyNow'],
  ['b1', 'busy1m'],
  ['b5', 'busy5m'],
  ['b15', 'busy15m'],
  ['w', 'queueWaitP95Ms'],
  ['w0', 'queueWaitNowMs'],
  ['q', 'queueDepth'],
  ['r', 'rps'],
  ['f', 'inFlight'],
] as const;
const SUMMARY_FLAGS = [
  ['rd', 'ready'],
  ['wf', 'windowsFilled'],
] as const;

const round3 = (value: number): number => Math.round(value * 1000) / 1000 || 0;

/**
 * `t=<at in s>;b0=..;b1=..;b5=..;b15=..;w=..;w0=..;q=..;r=..;f=..;rd=0|1;wf=0|1[;p=0|1][;cs=<ms>][;d0=..]`,
 * numbers rounded to 3 decimals (peers read exactly what they would compute from the rounded
 * values); `p` (paused), `cs` (controlSince, whole milliseconds) and `d0` (demandNow) only when present. The summary
 * must already be normalized (normalizeSummary).
 */
export function encodeSummary(summary: SignalSummary): string {
  const parts = [`t=${Math.floor(summary.at / 1000)}`];
  for (const [field, key] of SUMMARY_NUMBERS) parts.push(`${field}=${round3(summary[key])}`);
  for (const [field, key] of SUMMARY_FLAGS) parts.push(`${field}=${summary[key] ? 1 : 0}`);
  if (summary.paused !== undefined) parts.push(`p=${summary.paused ? 1 : 0}`);
  if (summary.controlSince !== undefined) parts.push(`cs=${Math.round(summary.controlSince)}`);
  if (summary.demandNow !== undefined) parts.push(`d0=${round3(summary.demandNow)}`);
  return checkTagValue('summary', parts.join(';'));
}

/** The summary in a tag value, or undefined when any field is missing or malformed. */
export function decodeSummary(value: string): SignalSummary | undefined {
  const fields = new Map(value.split(';').map((part) => part.split('=', 2) as [string, string | undefined]));
  const number = (field: string): number | undefined => {
    const text = fields.get(field);
    const parsed = text === undefined || text === '' ? Number.NaN : Number(text);
    return Number.isFinite(parsed) ? parsed : undefined;
  };
  const seconds = number('t');
  if (seconds === undefined) return undefined;
  const out: Record<string, number | boolean> = { at: seconds * 1000 };
  for (const [field, key] of SUMMARY_NUMBERS) {
    const parsed = number(field);
    if (parsed === undefined) return undefined;
    out[key] = parsed;
  }
  const flag = (field: string): boolean | undefined => (fields.get(field) === '1' ? true : fields.get(field) === '0' ? false : undefined);
  for (const [field, key] of SUMMARY_FLAGS) {
    const parsed = flag(field);
    if (parsed === undefined) return undefined;
    out[key] = parsed;
  }
  if (fields.has('p')) {
    const paused = flag('p');
    if (paused === undefined) return undefined;
    out.paused = paused;
  }
  if (fields.has('cs')) {
    const since = number('cs');
    if (since === undefined) return undefined;
    out.controlSince = since;
  }
  if (fields.has('d0')) {
    const demand = number('d0');
    if (demand === undefined) return undefined;
    out.demandNow = demand;
  }
  return out as unknown as SignalSummary;
}

/** The endpoint tags markRunning writes (a key absent from `endpoints` maps to undefined). */
export function endpointTags(endpoints: Endpoints): Record<typeof TAG.proxy | typeof TAG.admin, string | undefined> {
  return {
    [TAG.proxy]: endpoints.proxy === undefined ? undefined : checkTagValue('endpoints.proxy', endpoints.proxy),
    [TAG.admin]: endpoints.admin === undefined ? undefined : checkTagValue('endpoints.admin', endpoints.admin),
  };
}

export function endpointsFromTags(tags: Map<string, string>): Endpoints | undefined {
  const proxy = tags.get(TAG.proxy);
  const admin = tags.get(TAG.admin);
  if (proxy === undefined && admin === undefined) return undefined;
  return { ...(proxy === undefined ? {} : { proxy }), ...(admin === undefined ? {} : { admin }) };
}

/** The stored form of a command: JSON with short keys; the target is the tagged instance. */
interface CommandTagValue {
  k: Command['kind'];
  f: string;
  i: number;
  e: number;
  p?: Record<string, unknown>;
}

/** The tag that delivers `command` (validated with checkCommand) to its target instance. */
export function encodeCommand(command: Command): { Key: string; Value: string } {
  const cmd = checkCommand(command);
  const stored: CommandTagValue = { k: cmd.kind, f: cmd.fleet, i: cmd.issuedAt, e: cmd.expiresAt, ...(cmd.params ? { p: cmd.params } : {}) };
  return { Key: `${COMMAND_TAG_PREFIX}${cmd.id}`, Value: checkTagValue('command', JSON.stringify(stored)) };
}

export function isCommandTag(key: string): boolean {
  return key.startsWith(COMMAND_TAG_PREFIX);
}

/** The command a `governor:cmd:<id>` tag on instance `target` holds; throws a GovError when malformed. */
export function decodeCommand(key: string, value: string, target: string): Command {
  let stored: Partial<CommandTagValue>;
  try {
    stored = JSON.parse(value) as Partial<CommandTagValue>;
  } catch {
    throw new GovError('GOV_ERR_CLOUD_BAD_REQUEST', `command tag ${key} does not hold JSON`, { key, value });
  }
  return checkCommand({
    id: key.slice(COMMAND_TAG_PREFIX.length),
    target,
    fleet: stored?.f as string,
    kind: stored?.k as Command['kind'],
    issuedAt: stored?.i as number,
    expiresAt: stored?.e as number,
    ...(stored?.p === undefined ? {} : { params: stored.p }),
  });
}

/** The acknowledgement tag value, cut to fit. */
export function ackValue(id: string, outcome: string): string {
  return `${id}: ${outcome}`.slice(0, MAX_TAG_VALUE_LENGTH);
}
