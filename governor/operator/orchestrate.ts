import type { Clock } from '../clock.js';
import type { Command, InstanceInfo } from '../cloud/port.js';
import { GovError, describeError } from '../errors.js';
import type { ShutdownProgress } from '../../tasks/controlled-shutdown.js';
import type { Observation, OperatorChannel } from './channels.js';
import { parseOutcome } from './outcome.js';

/**
 * The operator's side of #7, over either channel: take one instance out and follow it until it
 * is gone; take a region out one instance at a time, oldest first, keeping the last one unless
 * told otherwise; Stop!/Go! for a whole region. Time is the injected clock (tests: virtual).
 */

export type OperatorEvent =
  | { type: 'sent'; instanceId: string; kind: Command['kind']; via: string }
  | { type: 'answer'; instanceId: string; kind: Command['kind']; outcome: string; commandId?: string }
  | { type: 'progress'; instanceId: string; observation: Observation }
  | { type: 'note'; message: string };

export interface OperatorRun {
  clock: Clock;
  /** How often progress is read (default 1 s). */
  pollMs?: number;
  /** Give up (GOV_ERR_OPERATOR_TIMEOUT) after this long (default 15 min). */
  timeoutMs?: number;
  /** Receives every step, for a progress display (formatOperatorEvent). */
  follow?: (event: OperatorEvent) => void;
}

export interface ShutdownReport {
  instanceId: string;
  outcome: string;
  /** The last progress seen (absent when its admin API was never reachable). */
  progress?: ShutdownProgress;
}

export interface ControlReport {
  paused: boolean;
  /** The decision's time: every member got the same. */
  decidedAt: number;
  /** Per member: its answer, or why it could not be reached (it inherits from its peers). */
  results: Array<{ instanceId: string; outcome: string }>;
}

export interface RegionShutdownReport {
  /** The region's Stop! put in force first, so that no replacement is launched meanwhile. */
  pause: ControlReport;
  /** In the order they were taken out (oldest first). */
  taken: ShutdownReport[];
  /** The member kept because it was the last one (no includingLast). */
  kept?: string;
}

const DEFAULT_POLL_MS = 1000;
const DEFAULT_TIMEOUT_MS = 15 * 60_000;

function deadlineOf(run: OperatorRun): number {
  return run.clock.now() + (run.timeoutMs ?? DEFAULT_TIMEOUT_MS);
}

function timedOut(what: string, run: OperatorRun): GovError {
  return new GovError('GOV_ERR_OPERATOR_TIMEOUT', `${what} within ${Math.round((run.timeoutMs ?? DEFAULT_TIMEOUT_MS) / 1000)} s`);
}

/** Polls `target` until it is gone, reporting every change of what is seen; returns the last progress. */
async function followUntilGone(channel: OperatorChannel, target: InstanceInfo, run: OperatorRun, deadline: number): Promise<ShutdownProgress | undefined> {
  let shown = '';
  let progress: ShutdownProgress | undefined;
  for (;;) {
    const observation = await channel.observe(target);
    progress = observation.progress ?? progress;
    const key = JSON.stringify(observation);
    if (key !== shown) {
      shown = key;
      run.follow?.({ type: 'progress', instanceId: target.id, observation: { ...observation, ...(progress ? { progress } : {}) } });
    }
    if (observation.state === 'gone') return progress;
    if (run.clock.now() >= deadline) throw timedOut(`instance ${target.id} did not finish its controlled shutdown`, run);
    await run.clock.sleep(run.pollMs ?? DEFAULT_POLL_MS);
  }
}

async function takeOut(
  channel: OperatorChannel,
  target: InstanceInfo,
  ask: { includingLast: boolean; reason: string },
  run: OperatorRun,
  deadline: number,
): Promise<ShutdownReport> {
  run.follow?.({ type: 'sent', instanceId: target.id, kind: 'shutdown', via: channel.via });
  const { outcome, commandId } = await channel.deliver(target, 'shutdown', ask, run.clock.now());
  run.follow?.({ type: 'answer', instanceId: target.id, kind: 'shutdown', outcome, commandId });
  const status = parseOutcome(outcome).status;
  if (status === 'expired') throw new GovError('GOV_ERR_OPERATOR_TIMEOUT', `instance ${target.id} did not read the shutdown command: ${outcome}`);
  if (status !== 'accepted') throw new GovError('GOV_ERR_SHUTDOWN_REFUSED', `instance ${target.id} answered: ${outcome}`, { outcome });
  const progress = await followUntilGone(channel, target, run, deadline);
  return progress ? { instanceId: target.id, outcome, progress } : { instanceId: target.id, outcome };
}

/**
 * Asks instance `instanceId` for a controlled shutdown and follows it until it is gone. Rejects
 * with GOV_ERR_OPERATOR_TARGET when it is not a live member, GOV_ERR_SHUTDOWN_REFUSED when it
 * refuses (the last serving instance without includingLast), GOV_ERR_OPERATOR_TIMEOUT when it
 * does not answer before the command expires or is not gone within run.timeoutMs.
 */
export async function shutdownInstance(
  channel: OperatorChannel,
  opts: OperatorRun & { instanceId: string; includingLast?: boolean; reason?: string },
): Promise<ShutdownReport> {
  const deadline = deadlineOf(opts);
  const target = (await channel.members()).find((m) => m.id === opts.instanceId);
  if (!target) {
    throw new GovError('GOV_ERR_OPERATOR_TARGET', `instance ${opts.instanceId} is not a live member of fleet ${channel.fleet} in ${channel.region}`, {
      id: opts.instanceId,
    });
  }
  return takeOut(channel, target, { includingLast: opts.includingLast ?? false, reason: opts.reason ?? 'operator: shutdown --instance' }, opts, deadline);
}

/**
 * Stop! (paused) or Go! for every current member, all with the same decision time; resolves
 * once each has answered or could not be reached (a member that missed it adopts the decision
 * from its peers' summaries). Rejects with GOV_ERR_OPERATOR_TARGET when the region has no member.
 */
export async function setRegionControl(channel: OperatorChannel, paused: boolean, run: OperatorRun): Promise<ControlReport> {
  const members = await channel.members();
  if (members.length === 0) throw new GovError('GOV_ERR_OPERATOR_TARGET', `fleet ${channel.fleet} has no members in ${channel.region}`);
  const kind = paused ? 'pause' : 'resume';
  const decidedAt = run.clock.now();
  const results = await Promise.all(
    members.map(async (m) => {
      run.follow?.({ type: 'sent', instanceId: m.id, kind, via: channel.via });
      let answer: { outcome: string; commandId?: string };
      try {
        answer = await channel.deliver(m, kind, {}, decidedAt);
      } catch (err) {
        answer = { outcome: `unreached: ${describeError(err).message} (it adopts the decision from its peers)` };
      }
      run.follow?.({ type: 'answer', instanceId: m.id, kind, ...answer });
      return { instanceId: m.id, outcome: answer.outcome };
    }),
  );
  return { paused, decidedAt, results };
}

export const pauseRegion = (channel: OperatorChannel, run: OperatorRun) => setRegionControl(channel, true, run);
export const resumeRegion = (channel: OperatorChannel, run: OperatorRun) => setRegionControl(channel, false, run);

/**
 * Takes the region's instances out one at a time, oldest first, each by a controlled shutdown
 * followed until it is gone before the next is asked. First the region is paused (Stop!), so
 * that the fleet launches no replacement while it shrinks; it stays paused afterwards. A member
 * already leaving is waited for, and so is one still booting (it is not serving yet). The last
 * member is kept unless `includingLast`. The same refusals and timeouts as shutdownInstance.
 */
export async function shutdownRegion(
  channel: OperatorChannel,
  opts: OperatorRun & { includingLast?: boolean; reason?: string },
): Promise<RegionShutdownReport> {
  const deadline = deadlineOf(opts);
  const includingLast = opts.includingLast ?? false;
  const reason = opts.reason ?? 'operator: shutdown --region';
  const pause = await setRegionControl(channel, true, opts);
  const gone = new Set<string>();
  const taken: ShutdownReport[] = [];
  let waitingFor = '';
  for (;;) {
    // a fleet view read through an admin API may still list a member that has just gone
    const members = (await channel.members()).filter((m) => !gone.has(m.id));
    const leaving = members.find((m) => m.state === 'leaving');
    if (leaving) {
      opts.follow?.({ type: 'note', message: `waiting for ${leaving.id}, already leaving` });
      await followUntilGone(channel, leaving, opts, deadline);
      gone.add(leaving.id);
      continue;
    }
    const booting = members.find((m) => m.state === 'pending');
    if (booting) {
      if (waitingFor !== booting.id) opts.follow?.({ type: 'note', message: `waiting for ${booting.id} to finish booting` });
      waitingFor = booting.id;
      if (opts.clock.now() >= deadline) throw timedOut(`instance ${booting.id} did not finish booting`, opts);
      await opts.clock.sleep(opts.pollMs ?? DEFAULT_POLL_MS);
      continue;
    }
    if (members.length === 0) return { pause, taken };
    if (members.length === 1 && !includingLast) {
      opts.follow?.({ type: 'note', message: `kept ${members[0].id}: the last instance of the region stays (pass --including-last to take it out too)` });
      return { pause, taken, kept: members[0].id };
    }
    const [oldest] = members;
    taken.push(await takeOut(channel, oldest, { includingLast: includingLast && members.length === 1, reason }, opts, deadline));
    gone.add(oldest.id);
  }
}
