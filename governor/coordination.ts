import { createHash } from 'node:crypto';
import type { InstanceInfo } from './cloud/port.js';
import type { GovernorConfig } from './config-types.js';
import type { Intent } from './facts.js';

/**
 * The coordination protocol of DESIGN.md as pure functions of (fleet view, facts, config, now).
 * Every decision is data with a human-readable `reason`; only the action tasks act on it.
 * Every governor that sees the same fleet list computes the same ranks, slots and tokens.
 */

export type CoordinationConfig = Pick<GovernorConfig, 'fleet' | 'region' | 'scaling'>;

/** A fleet member with its oldest-first rank (0 = oldest). */
export interface RankedInstance extends InstanceInfo {
  rank: number;
}

export interface FleetCounts {
  /** pending + running + leaving */
  members: number;
  /** running: serving members (not pending, not leaving) */
  running: number;
  pending: number;
  leaving: number;
}

/** An intent older than this is not current: the rule that emitted it no longer fires. */
export const INTENT_MAX_AGE_MS = 30_000;

/** Code-unit order: the same on every machine, whatever its locale. */
function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Members oldest first (launch time, then id), ranked 0..n-1; terminated instances are dropped.
 * Each entry is a new object with the InstanceInfo members (an adapter's own extra fields are
 * left behind; the summary and endpoints objects are shared with the input) and its rank.
 */
export function rankFleet(instances: readonly InstanceInfo[]): RankedInstance[] {
  return instances
    .filter((i) => i.state !== 'terminated')
    .sort((a, b) => a.launchTime - b.launchTime || compareIds(a.id, b.id))
    .map(rankedEntry);
}

function rankedEntry(i: InstanceInfo, rank: number): RankedInstance {
  const entry: RankedInstance = { id: i.id, fleet: i.fleet, region: i.region, state: i.state, launchTime: i.launchTime, rank };
  if (i.launchedBy !== undefined) entry.launchedBy = i.launchedBy;
  if (i.launchSlot !== undefined) entry.launchSlot = i.launchSlot;
  if (i.summary !== undefined) entry.summary = i.summary;
  if (i.endpoints !== undefined) entry.endpoints = i.endpoints;
  return entry;
}

/**
 * Whether a pending member has been pending longer than `bootTimeoutMs` since its launch: alive
 * (perhaps) but never booted. A stuck member still counts against the regional cap (it exists and
 * is billed) but no longer as a booting launch: it neither blocks nor covers further launches.
 */
export function isStuckPending(instance: InstanceInfo, now: number, bootTimeoutMs: number): boolean {
  return instance.state === 'pending' && now - instance.launchTime > bootTimeoutMs;
}

/** Pending members still within the boot timeout: launches that will serve soon. */
export function countBooting(fleet: readonly InstanceInfo[], now: number, bootTimeoutMs: number): number {
  let booting = 0;
  for (const i of fleet) if (i.state === 'pending' && !isStuckPending(i, now, bootTimeoutMs)) booting++;
  return booting;
}

export function countFleet(fleet: readonly InstanceInfo[]): FleetCounts {
  const counts: FleetCounts = { members: 0, running: 0, pending: 0, leaving: 0 };
  for (const i of fleet) {
    if (i.state === 'terminated') continue;
    counts.members++;
    counts[i.state]++;
  }
  return counts;
}

function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** A short hash of the membership (sorted member ids): it changes whenever a member joins or goes. */
export function membershipGeneration(fleet: readonly InstanceInfo[]): string {
  const ids = fleet
    .filter((i) => i.state !== 'terminated')
    .map((i) => i.id)
    .sort(compareIds);
  return sha256Hex(ids.join('\n')).slice(0, 12);
}

/**
 * The idempotency token of a launch slot: `gov-<fleet prefix>-<40 hex of sha256(fleet, region,
 * slot)>`, at most 64 characters, ASCII only. Identical inputs give identical tokens.
 */
export function launchToken(fleet: string, region: string, slot: string): string {
  for (const [name, value] of Object.entries({ fleet, region, slot })) {
    if (typeof value !== 'string' || value.length === 0) {
      throw new TypeError(`launchToken: ${name} must be a non-empty string, got ${JSON.stringify(value)}`);
    }
  }
  const readable = fleet.replace(/[^A-Za-z0-9]/g, '').slice(0, 16);
  const digest = sha256Hex(JSON.stringify([fleet, region, slot])).slice(0, 40);
  return readable ? `gov-${readable}-${digest}` : `gov-${digest}`;
}

/** Whether `intent` was emitted recently enough to act on. */
export function isCurrentIntent(intent: Intent | undefined, now: number): boolean {
  return intent !== undefined && now - intent.at <= INTENT_MAX_AGE_MS;
}

export type SuppressCode =
  | 'no-intent'
  | 'paused'
  | 'held'
  | 'warming-up'
  | 'no-fleet-view'
  | 'fleet-view-stale'
  | 'not-in-fleet'
  | 'self-pending'
  | 'self-leaving'
  | 'launch-pending'
  | 'at-cap'
  | 'awaiting-fleet-view'
  | 'spacing'
  | 'not-my-turn'
  | 'another-leaving'
  | 'not-rank-0'
  | 'last-instance'
  | 'below-minimum';

export interface Suppress {
  action: 'suppress';
  code: SuppressCode;
  reason: string;
}

export interface Launch {
  action: 'launch';
  count: number;
  /** Membership generation the slots belong to. */
  generation: string;
  /** `${generation}-${i}`, deterministic from the membership. */
  slots: string[];
  /** launchToken(fleet, region, slot) per slot, same order. */
  tokens: string[];
  /** Serving members wanted at the target utilization. */
  desired: number;
  reason: string;
}

export interface Leave {
  action: 'leave';
  reason: string;
}

/** What every scaling decision looks at. */
export interface DecisionInput {
  /** This instance's id. */
  self: string;
  /** The ranked fleet view; undefined when the fleet has never been listed. */
  fleet: readonly RankedInstance[] | undefined;
  /** The last listing failed: the view is older than it should be. */
  fleetStale: boolean;
  /** The scaling intent (`intents.scale-up` / `intents.scale-down`), current or not. */
  intent: Intent | undefined;
  /** `intents.hold`: a current one suspends both directions. */
  hold?: Intent;
  /** Restart safety: false until the signals cover the warm-up. */
  windowsFilled: boolean;
  /** `control.paused`. */
  paused: boolean;
  /** A controlled shutdown of this instance is requested or running. */
  shuttingDown: boolean;
  config: CoordinationConfig;
  now: number;
  /** When the membership (ids and states) last changed; undefined when unknown. */
  lastFleetChangeAt: number | undefined;
}

/** Slots this governor already tried, kept until the membership changes. */
export interface LaunchAttempt {
  generation: string;
  slots: string[];
  /** clock.now() after the launch calls returned. */
  at: number;
}

export interface ScaleUpInput extends DecisionInput {
  /** Mean busy (last 10 s) of the serving members, 0..1; null when unknown. */
  busy: number | null;
  /**
   * Mean demand (SignalSummary.demandNow, governor/demand.ts) of the serving members: busy scaled
   * by what they received over what they served, >= busy when they shed. The desired count
   * follows it; absent or null: the busy figure is used.
   */
  demand?: number | null;
  /** Since when the scale-up intent has been current without a break. */
  needSince: number | undefined;
  /** When the current fleet view was listed (the listing's start). */
  fleetViewAt: number | undefined;
  previousAttempt?: LaunchAttempt;
}

function suppress(code: SuppressCode, reason: string): Suppress {
  return { action: 'suppress', code, reason };
}

const seconds = (ms: number) => `${Math.round(ms / 1000)} s`;

/** Gates shared by both directions; returns the suppression or this instance's place in the fleet. */
function gate(input: DecisionInput, type: 'scale-up' | 'scale-down'): Suppress | { self: RankedInstance; fleet: readonly RankedInstance[] } {
  const { intent, hold, now, fleet } = input;
  if (!intent) return suppress('no-intent', `no ${type} intent`);
  if (!isCurrentIntent(intent, now)) return suppress('no-intent', `the ${type} intent is stale (emitted ${seconds(now - intent.at)} ago)`);
  if (input.paused) return suppress('paused', 'paused: control.paused is set (region-wide stop)');
  if (hold && isCurrentIntent(hold, now)) return suppress('held', `held by rule "${hold.rule}" (${hold.file})`);
  if (!input.windowsFilled) {
    return suppress('warming-up', 'held: this governor just started and its signal windows are not filled yet (restart safety)');
  }
  if (!fleet) return suppress('no-fleet-view', 'the fleet has not been listed yet');
  if (input.fleetStale) return suppress('fleet-view-stale', 'the last fleet listing failed: not acting on a stale view');
  const self = fleet.find((i) => i.id === input.self);
  if (!self) return suppress('not-in-fleet', `this instance (${input.self}) is not in the fleet view`);
  if (input.shuttingDown || self.state === 'leaving') return suppress('self-leaving', 'this instance is leaving');
  if (self.state === 'pending') return suppress('self-pending', 'this instance is still pending (not serving yet)');
  return { self, fleet };
}

/** Serving members wanted at the target: ceil(N x load / target), tolerant of float noise (load: busy or demand). */
export function desiredServing(serving: number, load: number, targetBusy: number): number {
  return Math.max(0, Math.ceil((serving * load) / targetBusy - 1e-9));
}

/** "busy 0.90", or "demand 3.00 (busy 1.00)" when demand differs from busy (shedding, queueing). */
function describeLoad(busy: number | null, load: number): string {
  const shown = load.toFixed(2);
  return busy === null || shown === busy.toFixed(2) ? `busy ${shown}` : `demand ${shown} (busy ${busy.toFixed(2)})`;
}

/**
 * Scale up (DESIGN.md): the launcher is rank 0; rank k acts once the need has persisted
 * k x launcherGraceMs without a fleet change. Desired serving members = ceil(N x demand / target)
 * over the N running ones. Booting launches (pending within scaling.bootTimeoutMs) count as
 * members and as capacity to be: while some boot, a further launch goes only for the part of the
 * desired count they do not cover; with none booting the count is desired - N, at least 1 (the
 * rule wants growth). Never before the scale-up spacing after the last fleet change, nor beyond
 * maxLaunchPerStep per decision or maxInstances members (stuck pending members included).
 */
export function decideScaleUp(input: ScaleUpInput): Launch | Suppress {
  const gated = gate(input, 'scale-up');
  if ('action' in gated) return gated;
  const { self, fleet } = gated;
  const { config, now, lastFleetChangeAt } = input;
  const scaling = config.scaling;
  const counts = countFleet(fleet);
  const booting = countBooting(fleet, now, scaling.bootTimeoutMs);
  const serving = counts.running;
  const load = input.demand ?? input.busy;
  const desired = load === null ? serving + 1 : desiredServing(serving, load, scaling.targetBusy);
  const why =
    load === null
      ? `busy unknown, launching one`
      : `${serving} serving at ${describeLoad(input.busy, load)}: desired ceil(${serving} x ${load.toFixed(2)} / ${scaling.targetBusy}) = ${desired}`;

  const uncovered = desired - serving - booting;
  if (booting > 0 && uncovered <= 0) {
    return suppress('launch-pending', `launch already pending: ${booting} booting cover the need (${why})`);
  }
  const headroom = scaling.maxInstances - counts.members;
  if (headroom <= 0) {
    return suppress('at-cap', `at the regional cap: ${counts.members} members, maxInstances ${scaling.maxInstances}`);
  }
  const generation = membershipGeneration(fleet);
  const previous = input.previousAttempt?.generation === generation ? input.previousAttempt : undefined;
  if (previous && (input.fleetViewAt === undefined || input.fleetViewAt <= previous.at)) {
    return suppress('awaiting-fleet-view', `launched ${previous.slots.join(', ')}; waiting for a fleet listing that shows it`);
  }
  if (lastFleetChangeAt !== undefined && now - lastFleetChangeAt < scaling.scaleUpSpacingMs) {
    return suppress(
      'spacing',
      `scale-up spacing: the fleet changed ${seconds(now - lastFleetChangeAt)} ago, launches wait ${seconds(scaling.scaleUpSpacingMs)}`,
    );
  }
  if (self.rank > 0) {
    const since = Math.max(input.needSince ?? now, lastFleetChangeAt ?? -Infinity);
    const required = self.rank * scaling.launcherGraceMs;
    if (now - since < required) {
      return suppress(
        'not-my-turn',
        `not my turn: rank ${self.rank} launches only after the need persisted ${seconds(required)} without a fleet change (${seconds(now - since)} so far)`,
      );
    }
  }

  const wanted = booting > 0 ? uncovered : Math.max(1, uncovered);
  const count = Math.min(wanted, scaling.maxLaunchPerStep, headroom);
  const used = new Set(previous?.slots ?? []);
  const slots: string[] = [];
  for (let i = 0; slots.length < count; i++) {
    const slot = `${generation}-${i}`;
    if (!used.has(slot)) slots.push(slot);
  }
  const notes: string[] = [];
  if (booting > 0) notes.push(`${booting} already booting`);
  if (count < wanted) {
    if (count === scaling.maxLaunchPerStep) notes.push(`capped at maxLaunchPerStep ${scaling.maxLaunchPerStep}`);
    if (count === headroom) notes.push(`capped by maxInstances ${scaling.maxInstances}`);
  }
  return {
    action: 'launch',
    count,
    generation,
    slots,
    tokens: slots.map((slot) => launchToken(config.fleet, config.region, slot)),
    desired,
    reason: `launch ${count} as rank ${self.rank}: ${why}${notes.length ? ` (${notes.join(', ')})` : ''}`,
  };
}

/**
 * Scale down (DESIGN.md): only rank 0 leaves, by a controlled shutdown of itself; only when
 * no other member is leaving, no launch is booting (stuck pending members do not hold it), at
 * least max(1, minInstances) serving members would remain, and the last fleet change is older
 * than scaleDownSpacingMs.
 */
export function decideScaleDown(input: DecisionInput): Leave | Suppress {
  const gated = gate(input, 'scale-down');
  if ('action' in gated) return gated;
  const { self, fleet } = gated;
  const { config, now, lastFleetChangeAt } = input;
  const scaling = config.scaling;
  const counts = countFleet(fleet);

  const otherLeaving = fleet.filter((i) => i.state === 'leaving' && i.id !== self.id);
  if (otherLeaving.length > 0) {
    return suppress('another-leaving', `another instance is already leaving (${otherLeaving.map((i) => i.id).join(', ')})`);
  }
  if (self.rank !== 0) return suppress('not-rank-0', `not rank 0: only the oldest instance leaves (this one is rank ${self.rank})`);
  const booting = countBooting(fleet, now, scaling.bootTimeoutMs);
  if (booting > 0) return suppress('launch-pending', `a launch is pending (${booting} booting)`);
  if (counts.running <= 1) return suppress('last-instance', 'the last serving instance of the region never leaves');
  const minimum = Math.max(1, scaling.minInstances);
  if (counts.running - 1 < minimum) {
    return suppress('below-minimum', `would go below the minimum: ${counts.running - 1} would remain, minInstances ${minimum}`);
  }
  if (lastFleetChangeAt === undefined) return suppress('spacing', 'scale-down spacing: the last fleet change time is unknown');
  if (now - lastFleetChangeAt < scaling.scaleDownSpacingMs) {
    return suppress(
      'spacing',
      `scale-down spacing: the fleet changed ${seconds(now - lastFleetChangeAt)} ago, a leave waits ${seconds(scaling.scaleDownSpacingMs)}`,
    );
  }
  return {
    action: 'leave',
    reason: `leave as rank 0: ${counts.running - 1} serving would remain (minInstances ${minimum}), last fleet change ${seconds(now - lastFleetChangeAt)} ago`,
  };
}

/** The last journaled suppression (or other repeated entry) of a task. */
export interface JournalMark {
  code: string;
  at: number;
}

/** Repeats of the same code are journaled at most once per this. */
export const JOURNAL_REPEAT_MS = 60_000;

/** Whether an entry with `code` is due: first time, a different code, or the same one after repeatMs. */
export function journalDue(previous: JournalMark | undefined, code: string, now: number, repeatMs = JOURNAL_REPEAT_MS): boolean {
  return previous === undefined || previous.code !== code || now - previous.at >= repeatMs;
}
