import type { Clock } from '../clock.js';
import { GovError, describeError } from '../errors.js';
import { FailureInjector, type CloudMethod } from './failures.js';
import { newInstanceId } from './ids.js';
import type {
  Cloud,
  Command,
  Endpoints,
  Identity,
  InstanceInfo,
  InstanceState,
  LaunchRequest,
  LaunchResult,
  SignalSummary,
} from './port.js';
import { checkCommand, checkId, checkLaunchRequest, normalizeEndpoints, normalizeSummary } from './port-input.js';
import { byLaunchOrder, pendingRecord, type InstanceRecord, type NewInstance } from './registry.js';

export interface MemoryRegionOptions {
  /** The cloud's own clock: launch and end times (each instance's governor may run a skewed one). */
  clock: Clock;
  /** Shared by every adapter of the region unless `cloudFor` is given another. */
  failures?: FailureInjector;
  /** New instance ids (default: random `i-` ids); a simulation passes a seeded generator. */
  newId?: () => string;
}

/** A closed command (history), as the local adapter's acks folder keeps it. */
export interface MemoryCommandAck {
  command: Command;
  outcome: string;
  ackedBy?: string;
  at: number;
}

const EXPIRED_OUTCOME = 'expired';
const MAX_OUTCOME_LENGTH = 512;

/** Freezes a record about to be stored, with its summary and endpoints: stored records are shared, never changed. */
function frozenRecord(record: InstanceRecord): InstanceRecord {
  if (record.summary) Object.freeze(record.summary);
  if (record.endpoints) Object.freeze(record.endpoints);
  return Object.freeze(record);
}

const copy = <T>(value: T): T => structuredClone(value);

/**
 * An in-memory twin of the local registry (./registry.ts): the same records, launch tokens and
 * commands, kept in maps instead of a state directory, for simulations that run many governors
 * in one process. Every method is synchronous; the adapter (`MemoryCloud`) wraps them as the
 * port's promises. Contract: an id and a launch token are used once; records are frozen and
 * handed out as they are stored (an update stores a new record, so a record handed out never
 * changes: it is a snapshot); terminated instances stay as history; commands behave as the
 * local CommandStore's (delivered to their target only, until they expire or are acknowledged).
 */
export class MemoryRegion {
  readonly failures: FailureInjector;
  private readonly clock: Clock;
  private readonly newId: () => string;
  private readonly records = new Map<string, InstanceRecord>();
  /** `fleet\0region\0token` -> instance id */
  private readonly tokens = new Map<string, string>();
  private readonly open = new Map<string, Command>();
  private readonly acks = new Map<string, MemoryCommandAck>();

  constructor(opts: MemoryRegionOptions) {
    this.clock = opts.clock;
    this.failures = opts.failures ?? new FailureInjector();
    this.newId = opts.newId ?? newInstanceId;
  }

  /** The adapter as instance `id` sees it (its fleet and region are read from its record). */
  cloudFor(id: string, failures: FailureInjector = this.failures): MemoryCloud {
    const record = this.records.get(id);
    if (!record) throw new GovError('GOV_ERR_CLOUD_NOT_FOUND', `no instance ${id} in this memory region`, { id });
    return new MemoryCloud(this, { id, fleet: record.fleet, region: record.region }, failures);
  }

  /** Registers a new pending instance launched now (the first one of a fleet: launchedBy 'operator'). */
  createInstance(spec: NewInstance): InstanceRecord {
    const record = pendingRecord(spec, spec.id ?? this.newId(), this.clock.now());
    if (this.records.has(record.id)) {
      throw new GovError('GOV_ERR_CLOUD_BAD_REQUEST', `instance id ${record.id} is already used`, { id: record.id });
    }
    this.records.set(record.id, frozenRecord(record));
    return record;
  }

  get(id: string): InstanceRecord | undefined {
    return this.records.get(id);
  }

  /** The instances of `fleet` in `region` in launch order; terminated ones only when asked. */
  list(fleet: string, region: string, opts: { includeTerminated?: boolean } = {}): InstanceRecord[] {
    const listed: InstanceRecord[] = [];
    for (const record of this.records.values()) {
      if (record.fleet !== fleet || record.region !== region) continue;
      if (record.state !== 'terminated' || opts.includeTerminated) listed.push(record);
    }
    return listed.sort(byLaunchOrder);
  }

  /** Read-modify-write of one record (`change` returns the next record); GOV_ERR_CLOUD_NOT_FOUND without one. */
  update(id: string, change: (current: InstanceRecord) => InstanceRecord): InstanceRecord {
    const current = this.records.get(id);
    if (!current) throw new GovError('GOV_ERR_CLOUD_NOT_FOUND', `no instance ${id} in this memory region`, { id });
    const next = change(current);
    if (next !== current) this.records.set(id, frozenRecord(next));
    return next;
  }

  /** Marks `id` terminated now for `reason`; an instance already terminated keeps its end. */
  markTerminated(id: string, reason: string): InstanceRecord {
    return this.update(id, (r) =>
      r.state === 'terminated' ? r : { ...r, state: 'terminated', endTime: this.clock.now(), endReason: reason },
    );
  }

  /** Exactly one claim of a token in a fleet and region succeeds; the others get the winner's id. */
  claimToken(claim: { fleet: string; region: string; token: string; id: string }): { id: string; created: boolean } {
    const key = `${claim.fleet}\0${claim.region}\0${claim.token}`;
    const winner = this.tokens.get(key);
    if (winner !== undefined) return { id: winner, created: false };
    this.tokens.set(key, claim.id);
    return { id: claim.id, created: true };
  }

  newInstanceId(): string {
    return this.newId();
  }

  /** Files a new command (validated); an id already used, open or closed, is refused. */
  writeCommand(cmd: Command): Command {
    const command = checkCommand(cmd);
    if (this.open.has(command.id) || this.acks.has(command.id)) {
      throw new GovError('GOV_ERR_CLOUD_BAD_REQUEST', `command id ${command.id} is already used`, { id: command.id });
    }
    this.open.set(command.id, command);
    return copy(command);
  }

  /** Unexpired commands for `me`, oldest first; expired ones met on the way move to history. */
  commandsFor(me: Identity): Command[] {
    const now = this.clock.now();
    const mine: Command[] = [];
    for (const command of [...this.open.values()]) {
      if (command.expiresAt <= now) this.close(command, { outcome: EXPIRED_OUTCOME, at: now });
      else if (command.target === me.id && command.fleet === me.fleet) mine.push(copy(command));
    }
    return mine.sort((a, b) => a.issuedAt - b.issuedAt || a.id.localeCompare(b.id));
  }

  /** Records `outcome` for a command addressed to `me` and closes it; acknowledging twice is harmless. */
  ackCommand(me: Identity, id: string, outcome: string): void {
    checkId('command id', id);
    if (typeof outcome !== 'string' || outcome.length === 0 || outcome.length > MAX_OUTCOME_LENGTH) {
      throw new GovError('GOV_ERR_CLOUD_BAD_REQUEST', `outcome must be a non-empty string of at most ${MAX_OUTCOME_LENGTH} characters`, {
        field: 'outcome',
        value: outcome,
      });
    }
    const open = this.open.get(id);
    if (open?.target === me.id && open.fleet === me.fleet) {
      this.close(open, { outcome, ackedBy: me.id, at: this.clock.now() });
      return;
    }
    const closed = this.acks.get(id);
    if (closed?.command.target === me.id && closed.ackedBy === me.id) return;
    throw new GovError('GOV_ERR_CLOUD_NOT_FOUND', `no open command ${id} for instance ${me.id}`, { id, instance: me.id });
  }

  /** Acknowledged and expired commands, oldest acknowledgement first. */
  commandHistory(): MemoryCommandAck[] {
    return [...this.acks.values()].map(copy).sort((a, b) => a.at - b.at);
  }

  private close(command: Command, ack: Omit<MemoryCommandAck, 'command'>): void {
    this.acks.set(command.id, { command, ...ack });
    this.open.delete(command.id);
  }
}

/** Any failure of a call as a coded cloud error (GovErrors pass through). */
function asCloudError(method: CloudMethod, err: unknown): GovError {
  if (err instanceof GovError) return err;
  return new GovError('GOV_ERR_CLOUD_UNAVAILABLE', `${method}: ${describeError(err).message}`, { method }, { cause: err });
}

/**
 * The Cloud port over a MemoryRegion, with the semantics of LocalCloud with `spawn: null`:
 * launch() records a pending instance and starts nothing (the harness starts its governor);
 * states move pending -> running -> leaving -> terminated, never back (GOV_ERR_CLOUD_BAD_STATE);
 * every call consults `failures` first, so an injected failure changes nothing. Calls settle in
 * microtasks only: under a VirtualClock they complete without real time passing.
 */
export class MemoryCloud implements Cloud {
  constructor(
    readonly region: MemoryRegion,
    private readonly me: Identity,
    readonly failures: FailureInjector,
  ) {}

  identity(): Promise<Identity> {
    return this.call('identity', () => ({ ...this.me }));
  }

  listFleet(): Promise<InstanceInfo[]> {
    return this.call('listFleet', () => this.region.list(this.me.fleet, this.me.region));
  }

  launch(req: LaunchRequest): Promise<LaunchResult> {
    return this.call('launch', () => {
      const { token, slot, launchedBy } = checkLaunchRequest(req);
      const { fleet, region } = this.me;
      const claim = this.region.claimToken({ fleet, region, token, id: this.region.newInstanceId() });
      if (claim.created) this.region.createInstance({ id: claim.id, fleet, region, launchedBy, launchSlot: slot });
      return claim;
    });
  }

  markRunning(endpoints: Endpoints): Promise<void> {
    return this.call('markRunning', () => {
      const stored = normalizeEndpoints(endpoints);
      this.updateSelf('markRunning', ['pending', 'running'], (r) => ({ ...r, state: 'running', endpoints: stored }));
    });
  }

  markLeaving(): Promise<void> {
    return this.call('markLeaving', () =>
      this.updateSelf('markLeaving', ['pending', 'running', 'leaving'], (r) => ({ ...r, state: 'leaving' })),
    );
  }

  terminateSelf(): Promise<void> {
    return this.call('terminateSelf', () => {
      this.region.markTerminated(this.me.id, 'terminated itself');
    });
  }

  publishSummary(summary: SignalSummary): Promise<void> {
    return this.call('publishSummary', () => {
      const stored = normalizeSummary(summary);
      this.updateSelf('publishSummary', ['pending', 'running', 'leaving'], (r) => ({ ...r, summary: stored }));
    });
  }

  readCommands(): Promise<Command[]> {
    return this.call('readCommands', () => this.region.commandsFor(this.me));
  }

  ackCommand(id: string, outcome: string): Promise<void> {
    return this.call('ackCommand', () => this.region.ackCommand(this.me, id, outcome));
  }

  private updateSelf(method: CloudMethod, allowed: readonly InstanceState[], change: (current: InstanceRecord) => InstanceRecord): void {
    this.region.update(this.me.id, (current) => {
      if (!allowed.includes(current.state)) {
        throw new GovError('GOV_ERR_CLOUD_BAD_STATE', `${method} is not allowed for instance ${this.me.id} in state ${current.state}`, {
          method,
          id: this.me.id,
          state: current.state,
        });
      }
      return change(current);
    });
  }

  /** Runs one port call: injected failure first, then `body`; any failure becomes a coded GovError. */
  private async call<T>(method: CloudMethod, body: () => T): Promise<T> {
    this.failures.check(method);
    try {
      return body();
    } catch (err) {
      throw asCloudError(method, err);
    }
  }
}
