import type { ShutdownProgress } from '../../tasks/controlled-shutdown.js';
import type { Clock } from '../clock.js';
import { newCommandId } from '../cloud/ids.js';
import type { Command, Identity, InstanceInfo, InstanceState } from '../cloud/port.js';
import { byLaunchOrder, type LocalRegistry } from '../cloud/registry.js';
import { GovError } from '../errors.js';
import { fetchInstanceState, isUnreachable, postSigned, type InstanceStateDoc } from './admin-client.js';

/** What the operator sees of one instance while it leaves. */
export interface Observation {
  /** 'gone' once it is terminated, no longer listed, or its admin API no longer answers after shutting down. */
  state: InstanceState | 'gone';
  /** Its `shutdown.progress`, when its admin API answered. */
  progress?: ShutdownProgress;
}

export interface Delivery {
  /** The instance's acknowledgement: `<status>: <detail>` (governor/operator/outcome.ts). */
  outcome: string;
  commandId?: string;
}

/**
 * How an operator reaches the instances of one fleet in one region (#7): the cloud command
 * channel (commands the governors read on their own; no inbound port) or the signed admin API.
 */
export interface OperatorChannel {
  /** For messages: 'cloud command channel (.governor)', 'admin API (http://...)'. */
  readonly via: string;
  readonly fleet: string;
  readonly region: string;
  /** The live members (pending, running, leaving), oldest first. */
  members(): Promise<InstanceInfo[]>;
  /** Delivers one command and resolves once the instance answered, or with `expired: ...`. */
  deliver(target: InstanceInfo, kind: Command['kind'], params: Record<string, unknown>, issuedAt: number): Promise<Delivery>;
  observe(target: InstanceInfo): Promise<Observation>;
}

/** The instance's shutdown progress from its admin API; undefined when it has none or does not answer. */
async function progressOf(target: InstanceInfo): Promise<ShutdownProgress | undefined> {
  if (!target.endpoints?.admin) return undefined;
  try {
    const { values } = await fetchInstanceState(target.endpoints.admin);
    return values['shutdown.progress'] as ShutdownProgress | undefined;
  } catch {
    return undefined;
  }
}

export interface CommandChannelOptions {
  registry: LocalRegistry;
  fleet: string;
  region: string;
  clock: Clock;
  /** A command not read within this expires (default 120 s). */
  ttlMs?: number;
  /** How often acknowledgements are looked for (default 1 s). */
  pollMs?: number;
}

/**
 * The cloud command channel over the local registry: a command record per instance, which its
 * governor's commands task reads, acts on and acknowledges; progress from the registry (and
 * from the instance's GET /state when its admin API is reachable).
 */
export function commandChannel(opts: CommandChannelOptions): OperatorChannel {
  const { registry, fleet, region, clock } = opts;
  const ttlMs = opts.ttlMs ?? 120_000;
  const pollMs = opts.pollMs ?? 1000;
  return {
    via: `cloud command channel (${registry.stateDir})`,
    fleet,
    region,
    members: () => registry.list(fleet, region),
    async deliver(target, kind, params, issuedAt) {
      const command = await registry.commands.write({ id: newCommandId(), target: target.id, fleet, kind, issuedAt, expiresAt: issuedAt + ttlMs, params });
      for (;;) {
        const ack = (await registry.commands.history()).find((a) => a.command.id === command.id);
        if (ack) return { outcome: ack.outcome, commandId: command.id };
        // nobody may read an expired command to move it to history: give up at its expiry
        if (clock.now() > command.expiresAt + pollMs) {
          return { outcome: `expired: not acknowledged within ${Math.round(ttlMs / 1000)} s`, commandId: command.id };
        }
        await clock.sleep(pollMs);
      }
    },
    async observe(target) {
      const current = (await registry.list(fleet, region)).find((m) => m.id === target.id);
      if (!current) return { state: 'gone' };
      const progress = await progressOf(current);
      return progress ? { state: current.state, progress } : { state: current.state };
    },
  };
}

export interface AdminChannelOptions {
  /** The admin API of any member: the fleet is read from its GET /state (`fleet.view`). */
  adminUrl: string;
  secret: Buffer;
  /** When given, the member behind adminUrl must belong to them. */
  fleet?: string;
  region?: string;
}

/**
 * The signed admin API as a channel: members from an instance's fleet view, commands as
 * signed POSTs to each member's /control routes, progress from its GET /state. Once the
 * instance behind adminUrl has left, the fleet is read through another member it listed.
 */
export async function adminChannel(opts: AdminChannelOptions): Promise<OperatorChannel> {
  const entry = await fetchInstanceState(opts.adminUrl);
  const identity = entry.values['governor.identity'] as Identity | undefined;
  if (!identity) throw new GovError('GOV_ERR_OPERATOR_ADMIN', `${opts.adminUrl}: GET /state has no governor.identity`);
  for (const key of ['fleet', 'region'] as const) {
    if (opts[key] !== undefined && opts[key] !== identity[key]) {
      throw new GovError('GOV_ERR_OPERATOR_TARGET', `${opts.adminUrl} is instance ${identity.id} of ${key} ${identity[key]}, not ${opts[key]}`, { identity });
    }
  }
  let sources = [opts.adminUrl];
  const readView = async (): Promise<InstanceInfo[]> => {
    let lastError: unknown;
    for (const url of sources) {
      let doc: InstanceStateDoc;
      try {
        doc = await fetchInstanceState(url);
      } catch (err) {
        lastError = err;
        continue;
      }
      const view = ((doc.values['fleet.view'] as InstanceInfo[] | undefined) ?? []).filter((m) => m.state !== 'terminated');
      sources = [url, ...view.map((m) => m.endpoints?.admin).filter((u): u is string => u !== undefined && u !== url)];
      return view.sort(byLaunchOrder);
    }
    throw lastError;
  };
  return {
    via: `admin API (${opts.adminUrl})`,
    fleet: identity.fleet,
    region: identity.region,
    members: readView,
    async deliver(target, kind, params, issuedAt) {
      const admin = target.endpoints?.admin;
      if (!admin) throw new GovError('GOV_ERR_OPERATOR_TARGET', `instance ${target.id} has no admin endpoint yet (it is ${target.state})`, { id: target.id });
      const payload = kind === 'shutdown' ? { ...params, by: 'operator CLI' } : { decidedAt: issuedAt, by: 'operator CLI' };
      const { body } = await postSigned(admin, `/control/${kind}`, payload, opts.secret);
      if (typeof body.outcome !== 'string') throw new GovError('GOV_ERR_OPERATOR_ADMIN', `${admin}: the answer has no outcome`);
      return { outcome: body.outcome };
    },
    async observe(target) {
      const admin = target.endpoints?.admin;
      if (!admin) return { state: target.state };
      let values: Record<string, unknown>;
      try {
        ({ values } = await fetchInstanceState(admin));
      } catch (err) {
        // asked to shut down, it stopped answering: it has gone
        if (isUnreachable(err)) return { state: 'gone' };
        throw err;
      }
      const progress = values['shutdown.progress'] as ShutdownProgress | undefined;
      if (values['shutdown.done'] === true) return progress ? { state: 'gone', progress } : { state: 'gone' };
      const self = ((values['fleet.view'] as InstanceInfo[] | undefined) ?? []).find((m) => m.id === target.id);
      const state = values['shutdown.phase'] !== undefined ? 'leaving' : (self?.state ?? target.state);
      return progress ? { state, progress } : { state };
    },
  };
}
