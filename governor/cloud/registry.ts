import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { RealClock, type Clock } from '../clock.js';
import { GovError } from '../errors.js';
import { createLogger } from '../log.js';
import { processAlive } from '../process-alive.js';
import { createJsonExclusive, listJsonFiles, readJson, writeJsonAtomic } from './atomic-file.js';
import { CommandStore } from './commands.js';
import { newInstanceId } from './ids.js';
import type { InstanceInfo, InstanceState } from './port.js';
import { checkId, checkText } from './port-input.js';

/** One instance as the local registry keeps it. */
export interface InstanceRecord extends InstanceInfo {
  /** Its process: recorded by the instance itself (markRunning) or, at launch, by its launcher. */
  pid?: number;
  /** Why it ended (history), e.g. 'terminated itself', 'process 4242 is gone'. */
  endReason?: string;
}

export interface NewInstance {
  fleet: string;
  region: string;
  /** Instance id of the launcher, or 'operator'. */
  launchedBy: string;
  launchSlot?: string;
  /** Defaults to a new random id. */
  id?: string;
}

export interface LocalRegistryOptions {
  /** Source of launch and end times (default: wall clock). */
  clock?: Clock;
  /** Receives a warning per unreadable file (default: warnings to stderr). */
  log?: Logger;
}

export interface ListOptions {
  /** Include terminated instances (history). */
  includeTerminated?: boolean;
}

export interface TokenClaim {
  /** The instance the token launched (the new one, or the earlier claimant's). */
  id: string;
  created: boolean;
}

/** The default state directory, relative to the working directory. */
export const DEFAULT_STATE_DIR = '.governor';

const STATES: readonly InstanceState[] = ['pending', 'running', 'leaving', 'terminated'];

/** The record in a file, or an Error saying why it is not one. */
function toInstanceRecord(value: unknown, fileName: string): InstanceRecord | Error {
  const r = value as Partial<InstanceRecord> | null;
  if (typeof r !== 'object' || r === null) return new Error('not an object');
  if (`${r.id}.json` !== fileName) return new Error(`holds instance ${String(r.id)}`);
  if (typeof r.fleet !== 'string' || typeof r.region !== 'string') return new Error('fleet or region missing');
  if (!STATES.includes(r.state as InstanceState)) return new Error(`unknown state ${String(r.state)}`);
  if (typeof r.launchTime !== 'number' || !Number.isFinite(r.launchTime)) return new Error('launchTime missing');
  return r as InstanceRecord;
}

/** The record of a new instance launched at `now`: pending, its fields checked (any adapter's registry). */
export function pendingRecord(spec: NewInstance, id: string, now: number): InstanceRecord {
  return {
    id: checkId('id', id),
    fleet: checkText('fleet', spec.fleet, 128),
    region: checkText('region', spec.region, 128),
    state: 'pending',
    launchTime: now,
    launchedBy: checkText('launchedBy', spec.launchedBy, 128),
    ...(spec.launchSlot === undefined ? {} : { launchSlot: checkText('launchSlot', spec.launchSlot, 128) }),
  };
}

/** Read-modify-write chains per record file, shared by every registry object in this process. */
const recordChains = new Map<string, Promise<unknown>>();

/**
 * Runs `fn` after every earlier serialized call on `key` in this process has settled, so two
 * updates of one record (say a summary publish racing a terminate) never lose each other's write.
 */
function serialized<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const previous = recordChains.get(key) ?? Promise.resolve();
  const run = previous.then(fn, fn);
  const settled = run.catch(() => undefined);
  recordChains.set(key, settled);
  void settled.then(() => {
    if (recordChains.get(key) === settled) recordChains.delete(key);
  });
  return run;
}

/** Launch order: launch time, then id (rank 0 first). */
export function byLaunchOrder(a: InstanceInfo, b: InstanceInfo): number {
  return a.launchTime - b.launchTime || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/**
 * The local region's registry: a state directory that any number of processes share.
 *
 *   instances/<id>.json   one record per instance, terminated ones kept as history
 *   processes/<id>.json   the pid a launcher started for the instance
 *   tokens/<hash>.json    one per launch token used: which instance it launched
 *   commands/<id>.json    open operator commands; acks/<id>.json once acknowledged or expired
 *   logs/<id>.log         the output of a started instance
 *
 * Contract: every file is written atomically (readers see whole files only); a record and a
 * token are created exclusively, so an id or a token is used once even by racing processes.
 * Unreadable files are skipped with a warning and never stop a listing. An instance whose
 * recorded process is gone is marked terminated by whoever lists it next.
 */
export class LocalRegistry {
  readonly commands: CommandStore;
  private readonly clock: Clock;
  /** Created on the first warning when none was given. */
  private log?: Logger;
  private readonly warned = new Set<string>();

  constructor(
    readonly stateDir: string = DEFAULT_STATE_DIR,
    opts: LocalRegistryOptions = {},
  ) {
    this.clock = opts.clock ?? new RealClock();
    this.log = opts.log;
    this.commands = new CommandStore(this.dir('commands'), this.dir('acks'), this.clock, (path, error) =>
      this.warnUnreadable(path, error),
    );
  }

  /** Registers a new pending instance launched now (the first one of a fleet: launchedBy 'operator'). */
  async createInstance(spec: NewInstance): Promise<InstanceRecord> {
    const record = pendingRecord(spec, spec.id ?? newInstanceId(), this.clock.now());
    if (!(await createJsonExclusive(this.instancePath(record.id), record))) {
      throw new GovError('GOV_ERR_CLOUD_BAD_REQUEST', `instance id ${record.id} is already used`, { id: record.id });
    }
    return record;
  }

  /** The record of `id` as stored, or undefined when there is none (or it is unreadable). */
  async get(id: string): Promise<InstanceRecord | undefined> {
    const path = this.instancePath(checkId('id', id));
    const read = await readJson(path);
    if (read.kind === 'missing') return undefined;
    const record = read.kind === 'ok' ? toInstanceRecord(read.value, `${id}.json`) : new Error(read.error);
    if (record instanceof Error) {
      this.warnUnreadable(path, record.message);
      return undefined;
    }
    return record;
  }

  /**
   * The instances of `fleet` in `region`, in launch order: pending, running and leaving ones,
   * plus terminated ones when asked. Liveness is checked first (see the class contract).
   */
  async list(fleet: string, region: string, opts: ListOptions = {}): Promise<InstanceRecord[]> {
    const listed: InstanceRecord[] = [];
    for (const record of await this.readAll()) {
      if (record.fleet !== fleet || record.region !== region) continue;
      const current = record.state === 'terminated' ? record : await this.checkLiveness(record);
      if (current.state !== 'terminated' || opts.includeTerminated) listed.push(current);
    }
    return listed.sort(byLaunchOrder);
  }

  /**
   * Read-modify-write of one record: `change` gets the stored record and returns the next one
   * (the same object: nothing is written). Meant for an instance's own record and for marking
   * one terminated; GOV_ERR_CLOUD_NOT_FOUND when there is no such record.
   */
  async update(id: string, change: (current: InstanceRecord) => InstanceRecord): Promise<InstanceRecord> {
    return serialized(this.instancePath(id), async () => {
      const current = await this.get(id);
      if (!current) throw new GovError('GOV_ERR_CLOUD_NOT_FOUND', `no instance ${id} in ${this.stateDir}`, { id });
      const next = change(current);
      if (next !== current) await writeJsonAtomic(this.instancePath(id), next);
      return next;
    });
  }

  /** Marks `id` terminated now, for `reason`; an instance already terminated keeps its end. */
  markTerminated(id: string, reason: string): Promise<InstanceRecord> {
    return this.update(id, (r) => this.ended(r, reason));
  }

  /** Marks every member of `fleet` in `region` terminated (after their processes were stopped). */
  async markAllTerminated(fleet: string, region: string, reason = 'region stopped'): Promise<void> {
    for (const record of await this.readAll()) {
      if (record.fleet === fleet && record.region === region && record.state !== 'terminated') {
        await this.markTerminated(record.id, reason);
      }
    }
  }

  /**
   * Claims launch `token` in `fleet`/`region` for instance `id`. Exactly one claim of a token
   * ever succeeds (created: true); every other returns the winner's id with created: false.
   */
  async claimToken(claim: { fleet: string; region: string; token: string; id: string }): Promise<TokenClaim> {
    const key = createHash('sha256').update(`${claim.fleet}\0${claim.region}\0${claim.token}`).digest('hex');
    const path = join(this.dir('tokens'), `${key}.json`);
    if (await createJsonExclusive(path, { ...claim, at: this.clock.now() })) return { id: claim.id, created: true };
    const read = await readJson(path);
    const winner = read.kind === 'ok' ? (read.value as { id?: unknown }).id : undefined;
    if (typeof winner !== 'string') {
      throw new GovError('GOV_ERR_CLOUD_UNAVAILABLE', `launch token file ${path} is unreadable`, { path });
    }
    return { id: winner, created: false };
  }

  /** Records the process a launcher started for `id` (its liveness is checked from then on). */
  async recordProcess(id: string, pid: number): Promise<void> {
    await writeJsonAtomic(join(this.dir('processes'), `${checkId('id', id)}.json`), { pid, startedAt: this.clock.now() });
  }

  /** Where a started instance's output goes. */
  logFile(id: string): string {
    return join(this.dir('logs'), `${checkId('id', id)}.log`);
  }

  private dir(name: string): string {
    return join(this.stateDir, name);
  }

  private instancePath(id: string): string {
    return join(this.dir('instances'), `${id}.json`);
  }

  private async readAll(): Promise<InstanceRecord[]> {
    const records: InstanceRecord[] = [];
    for (const name of await listJsonFiles(this.dir('instances'))) {
      const path = join(this.dir('instances'), name);
      const read = await readJson(path);
      if (read.kind === 'missing') continue;
      const record = read.kind === 'ok' ? toInstanceRecord(read.value, name) : new Error(read.error);
      if (record instanceof Error) this.warnUnreadable(path, record.message);
      else records.push(record);
    }
    return records;
  }

  private async processPid(id: string): Promise<number | undefined> {
    const read = await readJson(join(this.dir('processes'), `${id}.json`));
    const pid = read.kind === 'ok' ? (read.value as { pid?: unknown }).pid : undefined;
    return typeof pid === 'number' && Number.isInteger(pid) && pid > 0 ? pid : undefined;
  }

  /** The record with its pid; terminated now if that process is gone. Records without a pid are trusted. */
  private async checkLiveness(record: InstanceRecord): Promise<InstanceRecord> {
    const pid = record.pid ?? (await this.processPid(record.id));
    if (pid === undefined) return record;
    if (processAlive(pid)) return { ...record, pid };
    return this.update(record.id, (r) => this.ended(r, `process ${pid} is gone`, pid));
  }

  private ended(record: InstanceRecord, reason: string, pid = record.pid): InstanceRecord {
    if (record.state === 'terminated') return record;
    return { ...record, pid, state: 'terminated', endTime: this.clock.now(), endReason: reason };
  }

  private warnUnreadable(path: string, error: string): void {
    const key = `${path}\n${error}`;
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.log ??= createLogger('warn', pino.destination(2));
    this.log.warn({ file: path, error }, 'skipping an unreadable registry file');
  }
}
