import type { BlackboardApi } from '../governor/blackboard-types.js';
import type { InstanceInfo, SignalSummary } from '../governor/cloud/port.js';
import {
  countFleet,
  isStuckPending,
  journalDue,
  rankFleet,
  type DecisionInput,
  type JournalMark,
  type Launch,
  type Leave,
  type RankedInstance,
  type Suppress,
} from '../governor/coordination.js';
import { describeError } from '../governor/errors.js';
import { FLEET_SERIES, PLAIN_FACTS, type Intent } from '../governor/facts.js';
import { readControl, withControlState } from '../governor/operator/control.js';
import type { Task, TaskContext } from '../governor/task.js';
import { SHUTDOWN_KEYS } from './controlled-shutdown.js';
import { SIGNAL_KEYS } from './signals.js';

/** Blackboard keys the fleet task writes besides PLAIN_FACTS and FLEET_SERIES. */
export const FLEET_KEYS = {
  /** RankedInstance[] oldest first; this instance carries its local (freshest) summary. */
  view: 'fleet.view',
  /** clock.now() when the listing behind `fleet.view` started. */
  viewAt: 'fleet.viewAt',
  /** true while the latest listing failed: `fleet.view` is the last good one. */
  stale: 'fleet.stale',
  /** {code?, message, at} of the latest failed listing; absent once a listing succeeds. */
  error: 'fleet.error',
  /** This instance's id. */
  self: 'fleet.self',
  /** When the membership (ids and their states) last changed. */
  lastChangeAt: 'fleet.lastChangeAt',
  /** The membership as last seen ("id:state" sorted), the change detector's memory. */
  membership: 'fleet.membership',
  /** Prefix of `fleet.errorJournaled.<call>`: the last journaled failure of that cloud call, until it succeeds. */
  errorMark: 'fleet.errorJournaled',
  /**
   * Series: mean demand (SignalSummary.demandNow, busyNow for summaries without it) of the serving
   * members with a fresh summary; what scale-up sizes a launch by. Pushed with `fleet.busy`.
   */
  demand: 'fleet.demand',
  /** Ids of the pending members journaled as stuck (pending beyond scaling.bootTimeoutMs), each once. */
  stuck: 'fleet.stuck',
} as const;

/** A peer's published summary older than this is ignored for fleet facts. */
export const SUMMARY_MAX_AGE_MS = 30_000;

/** busyIfOneLess when the fleet cannot lose a member (one or no serving member): never below a threshold. */
export const NO_SMALLER_FLEET_BUSY = 1000;

function membershipKey(fleet: readonly InstanceInfo[]): string {
  return fleet
    .map((i) => `${i.id}:${i.state}`)
    .sort()
    .join(',');
}

/** "joined d (pending); a running -> leaving; left c" between two membership keys. */
function describeChange(before: string, after: string): string {
  const parse = (key: string) => new Map(key ? key.split(',').map((m) => m.split(':') as [string, string]) : []);
  const old = parse(before);
  const now = parse(after);
  const parts: string[] = [];
  for (const [id, state] of now) {
    const was = old.get(id);
    if (was === undefined) parts.push(`joined ${id} (${state})`);
    else if (was !== state) parts.push(`${id} ${was} -> ${state}`);
  }
  for (const id of old.keys()) if (!now.has(id)) parts.push(`left ${id}`);
  return parts.join('; ');
}

/** Fleet facts from the serving members' fresh summaries; undefined fields when none is fresh. */
function fleetLoad(fleet: readonly InstanceInfo[], now: number) {
  const serving = fleet.filter((i) => i.state === 'running');
  const fresh = serving
    .map((i) => i.summary)
    .filter((s): s is SignalSummary => s !== undefined && now - s.at < SUMMARY_MAX_AGE_MS);
  if (fresh.length === 0) return { serving: serving.length, fresh: 0 };
  const busy = fresh.map((s) => s.busyNow);
  const busyMean = busy.reduce((a, b) => a + b, 0) / busy.length;
  return {
    serving: serving.length,
    fresh: fresh.length,
    busyMean,
    demandMean: fresh.reduce((a, s) => a + (s.demandNow ?? s.busyNow), 0) / fresh.length,
    busyMax: Math.max(...busy),
    // members without a fresh summary are assumed as busy as the mean
    busyIfOneLess: serving.length <= 1 ? NO_SMALLER_FLEET_BUSY : (busyMean * serving.length) / (serving.length - 1),
    queueWaitP95Ms: fresh.reduce((a, s) => a + s.queueWaitNowMs, 0) / fresh.length,
  };
}

async function selfId(ctx: TaskContext): Promise<string> {
  const known = ctx.blackboard.get<string>(FLEET_KEYS.self);
  if (known) return known;
  const { id } = await ctx.cloud.identity();
  ctx.blackboard.set(FLEET_KEYS.self, id);
  return id;
}

type CloudCall = 'identity' | 'listFleet' | 'publishSummary';

const errorMarkKey = (call: CloudCall) => `${FLEET_KEYS.errorMark}.${call}`;

/** Journals a failed cloud call once per message and minute (afresh after a success); the state stays as it was. */
function journalCloudError(ctx: TaskContext, call: CloudCall, err: unknown): void {
  const error = describeError(err);
  const now = ctx.clock.now();
  const mark = ctx.blackboard.get<JournalMark>(errorMarkKey(call));
  if (!journalDue(mark, error.message, now)) return;
  ctx.blackboard.set(errorMarkKey(call), { code: error.message, at: now } satisfies JournalMark);
  ctx.journal.record({ kind: 'error', name: 'fleet', reason: `${call} failed: ${error.message}`, data: { call, error } });
}

/**
 * Journals each pending member stuck beyond scaling.bootTimeoutMs once (kind 'error'); the ids
 * journaled are kept under `fleet.stuck` while those members remain pending.
 */
function journalStuck(ctx: TaskContext, ranked: readonly RankedInstance[], now: number): void {
  const timeoutMs = ctx.config.scaling.bootTimeoutMs;
  const stuck = ranked.filter((i) => isStuckPending(i, now, timeoutMs));
  const journaled = new Set(ctx.blackboard.get<string[]>(FLEET_KEYS.stuck) ?? []);
  for (const i of stuck) {
    if (journaled.has(i.id)) continue;
    ctx.journal.record({
      kind: 'error',
      name: 'fleet',
      reason: `instance ${i.id} is stuck: pending for ${Math.round((now - i.launchTime) / 1000)} s (scaling.bootTimeoutMs ${timeoutMs} ms); no longer counted as a booting launch`,
      data: { id: i.id, launchTime: i.launchTime, launchSlot: i.launchSlot ?? null, launchedBy: i.launchedBy ?? null },
    });
  }
  if (stuck.length > 0 || journaled.size > 0) ctx.blackboard.set(FLEET_KEYS.stuck, stuck.map((i) => i.id));
}

function writeView(ctx: TaskContext, listed: InstanceInfo[], me: string, listedAt: number): void {
  const { blackboard: bb } = ctx;
  const now = ctx.clock.now();
  const local = bb.get<SignalSummary>(SIGNAL_KEYS.summary);
  const ranked = rankFleet(listed);
  const mine = ranked.findIndex((i) => i.id === me);
  if (local && mine >= 0) ranked[mine].summary = local;
  bb.set(FLEET_KEYS.view, ranked);
  bb.set(FLEET_KEYS.viewAt, listedAt);
  bb.set(FLEET_KEYS.stale, false);
  bb.delete(FLEET_KEYS.error);

  const counts = countFleet(ranked);
  bb.set(PLAIN_FACTS.fleetSize, counts.members);
  bb.set(PLAIN_FACTS.fleetRunning, counts.running);
  bb.set(PLAIN_FACTS.fleetPending, counts.pending);
  bb.set(PLAIN_FACTS.fleetLeaving, counts.leaving);
  bb.set(PLAIN_FACTS.myRank, mine);

  const key = membershipKey(ranked);
  const previous = bb.get<string>(FLEET_KEYS.membership);
  if (previous === undefined) {
    // first view: the newest launch is the latest change anyone can know of
    bb.set(FLEET_KEYS.lastChangeAt, ranked.length > 0 ? Math.max(...ranked.map((i) => i.launchTime)) : now);
  } else if (previous !== key) {
    bb.set(FLEET_KEYS.lastChangeAt, now);
    ctx.journal.record({ kind: 'info', name: 'fleet', reason: `fleet changed: ${describeChange(previous, key)}`, data: { size: counts.members } });
  }
  bb.set(FLEET_KEYS.membership, key);
  journalStuck(ctx, ranked, now);

  bb.series(FLEET_SERIES.size).push(counts.members, now);
  const load = fleetLoad(ranked, now);
  if (load.busyMean === undefined) return;
  bb.series(FLEET_SERIES.busyMean).push(load.busyMean, now);
  bb.series(FLEET_KEYS.demand).push(load.demandMean, now);
  bb.series(FLEET_SERIES.busyMax).push(load.busyMax, now);
  bb.series(FLEET_SERIES.busyIfOneLess).push(load.busyIfOneLess, now);
  bb.series(FLEET_SERIES.queueWaitP95Ms).push(load.queueWaitP95Ms, now);
}

/**
 * Every 5 s: lists the fleet through the Cloud port (one call), ranks it oldest first, writes
 * the view, the plain fleet facts and the fleet series, tracks the last membership change, and
 * publishes this instance's signal summary with its Stop!/Go! state (until a controlled shutdown
 * has terminated it).
 * A failed cloud call is journaled (kind 'error') and leaves the last view in place, marked
 * stale; the run itself does not fail.
 */
const fleet: Task = {
  name: 'fleet',
  schedule: '*/5 * * * * *',
  timeoutMs: 4000,
  async run(ctx: TaskContext) {
    const { blackboard: bb, clock } = ctx;
    let me: string;
    try {
      me = await selfId(ctx);
    } catch (err) {
      journalCloudError(ctx, 'identity', err);
      return;
    }
    const listedAt = clock.now();
    try {
      const listed = await ctx.cloud.listFleet();
      ctx.signal.throwIfAborted();
      writeView(ctx, listed, me, listedAt);
      bb.delete(errorMarkKey('listFleet'));
    } catch (err) {
      if (ctx.signal.aborted) throw err;
      bb.set(FLEET_KEYS.stale, bb.has(FLEET_KEYS.view));
      bb.set(FLEET_KEYS.error, { ...describeError(err), at: clock.now() });
      journalCloudError(ctx, 'listFleet', err);
    }
    const summary = bb.get<SignalSummary>(SIGNAL_KEYS.summary);
    // a terminated instance has nothing to publish (its process is about to exit)
    if (!summary || bb.get(SHUTDOWN_KEYS.done) === true) return;
    try {
      await ctx.cloud.publishSummary(withControlState(summary, readControl(bb)));
      bb.delete(errorMarkKey('publishSummary'));
    } catch (err) {
      journalCloudError(ctx, 'publishSummary', err);
    }
  },
};

export default fleet;

// What the action tasks read and record (scale-up, scale-down).

/** The inputs every scaling decision shares, as the fleet and signals tasks left them. */
export function readDecisionInput(ctx: TaskContext, type: 'scale-up' | 'scale-down'): DecisionInput {
  const bb = ctx.blackboard;
  return {
    self: bb.get<string>(FLEET_KEYS.self) ?? '',
    fleet: bb.get<RankedInstance[]>(FLEET_KEYS.view),
    fleetStale: bb.get(FLEET_KEYS.stale) === true,
    intent: bb.get<Intent>(`intents.${type}`),
    hold: bb.get<Intent>('intents.hold'),
    windowsFilled: bb.get(PLAIN_FACTS.windowsFilled) === true,
    paused: bb.get(PLAIN_FACTS.paused) === true,
    shuttingDown: bb.has(SHUTDOWN_KEYS.request) || bb.has(SHUTDOWN_KEYS.phase),
    config: ctx.config,
    now: ctx.clock.now(),
    lastFleetChangeAt: bb.get<number>(FLEET_KEYS.lastChangeAt),
  };
}

/** The facts a decision is journaled with. */
export function decisionFacts(bb: BlackboardApi, input: DecisionInput): Record<string, unknown> {
  return {
    fleetSize: bb.get(PLAIN_FACTS.fleetSize),
    running: bb.get(PLAIN_FACTS.fleetRunning),
    pending: bb.get(PLAIN_FACTS.fleetPending),
    leaving: bb.get(PLAIN_FACTS.fleetLeaving),
    myRank: bb.get(PLAIN_FACTS.myRank),
    fleetBusy: bb.series(FLEET_SERIES.busyMean).last() ?? null,
    windowsFilled: input.windowsFilled,
    lastFleetChangeAt: input.lastFleetChangeAt ?? null,
    intent: input.intent ? { rule: input.intent.rule, file: input.intent.file, at: input.intent.at } : null,
  };
}

/**
 * Records a decision under `<task>.decision` and tells whether the task should act on it.
 * Journals (a new reason at once, the same one again at most once a minute): a suppression of
 * a wanted action (kind 'suppressed'), and in dry-run mode the action not taken (kind 'action',
 * data.dryRun). Without a current intent nothing was wanted, so nothing is journaled. An action
 * taken is journaled by the task itself. `facts` gives the journal entry's facts, and is called
 * only when an entry is written.
 */
export function recordDecision(ctx: TaskContext, decision: Launch | Leave | Suppress, facts: () => Record<string, unknown>): boolean {
  const bb = ctx.blackboard;
  const now = ctx.clock.now();
  const dryRun = ctx.config.scaling.dryRun;
  bb.set(`${ctx.name}.decision`, { ...decision, at: now, dryRun });
  const markKey = `${ctx.name}.journaled`;
  const code = decision.action === 'suppress' ? decision.code : 'dry-run';
  if (code === 'no-intent' || (decision.action !== 'suppress' && !dryRun)) {
    bb.delete(markKey);
    return decision.action !== 'suppress';
  }
  if (journalDue(bb.get<JournalMark>(markKey), code, now)) {
    bb.set(markKey, { code, at: now } satisfies JournalMark);
    ctx.journal.record(
      decision.action === 'suppress'
        ? { kind: 'suppressed', name: ctx.name, reason: decision.reason, facts: facts(), data: { code } }
        : { kind: 'action', name: ctx.name, reason: `dry run, the cloud is not called: ${decision.reason}`, facts: facts(), data: { dryRun: true, decision } },
    );
  }
  return false;
}
