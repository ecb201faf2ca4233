import type { SeriesReader } from '../governor/blackboard-types.js';
import { decideScaleUp, isCurrentIntent, type Launch, type LaunchAttempt, type ScaleUpInput } from '../governor/coordination.js';
import { describeError } from '../governor/errors.js';
import { FLEET_SERIES } from '../governor/facts.js';
import type { Task, TaskContext } from '../governor/task.js';
import { FLEET_KEYS, SUMMARY_MAX_AGE_MS, decisionFacts, readDecisionInput, recordDecision } from './fleet.js';

/** Blackboard keys of the scale-up task (besides `scale-up.decision` and `scale-up.journaled`). */
export const SCALE_UP_KEYS = {
  /** Since when the scale-up intent has been current without a break; absent without one. */
  needSince: 'scale-up.needSince',
  /** LaunchAttempt: the slots this governor launched for the current membership. */
  attempt: 'scale-up.attempt',
} as const;

/** The newest sample of a fleet series when it is recent (within SUMMARY_MAX_AGE_MS), else null. */
function recentLast(series: SeriesReader): number | null {
  return series.count(SUMMARY_MAX_AGE_MS / 1000) > 0 ? (series.last() ?? null) : null;
}

/**
 * Launches every slot of the decision; a token a peer already used launches nothing and is not
 * retried. A slot whose launch call failed is not recorded as tried: the next decision retries it.
 */
async function launchSlots(ctx: TaskContext, decision: Launch, self: string, previous: LaunchAttempt | undefined): Promise<void> {
  const tried = previous?.generation === decision.generation ? [...previous.slots] : [];
  try {
    for (const [i, slot] of decision.slots.entries()) {
      ctx.signal.throwIfAborted();
      const token = decision.tokens[i];
      try {
        const result = await ctx.cloud.launch({ token, slot, launchedBy: self });
        // only a token the cloud took is used up; a failed call is retried with the same token
        // next time (idempotent), so that this governor and a peer never fill one need with two slots
        tried.push(slot);
        if (result.created) {
          ctx.journal.record({ kind: 'action', name: 'launch', reason: `launched ${result.id} for slot ${slot}`, data: { id: result.id, slot, token } });
        } else {
          ctx.journal.record({
            kind: 'suppressed',
            name: 'launch',
            reason: `slot ${slot} taken by a peer (instance ${result.id}): not launched again`,
            data: { id: result.id, slot, token },
          });
        }
      } catch (err) {
        if (ctx.signal.aborted) throw err;
        ctx.journal.record({ kind: 'error', name: 'launch', reason: `launch of slot ${slot} failed: ${describeError(err).message}`, data: { slot, token, error: describeError(err) } });
      }
    }
  } finally {
    ctx.blackboard.set(SCALE_UP_KEYS.attempt, { generation: decision.generation, slots: tried, at: ctx.clock.now() } satisfies LaunchAttempt);
  }
}

/**
 * Every 5 s: turns a current `intents.scale-up` into launches by the coordination protocol
 * (decideScaleUp): the launcher is rank 0, rank k after k grace periods; the count follows the
 * fleet's demand (`fleet.demand`: busy scaled up by shed requests) at the target utilization,
 * counting booting launches as capacity to be, within the per-step and regional caps; tokens
 * make a slot launch once.
 * Every launch and every suppression is journaled with its reason; dryRun journals only.
 * Holds everything until `signals.windowsFilled` and while `control.paused`.
 */
const scaleUp: Task = {
  name: 'scale-up',
  schedule: '*/5 * * * * *',
  timeoutMs: 4000,
  async run(ctx: TaskContext) {
    const bb = ctx.blackboard;
    const base = readDecisionInput(ctx, 'scale-up');
    let needSince: number | undefined;
    if (isCurrentIntent(base.intent, base.now)) {
      needSince = bb.get<number>(SCALE_UP_KEYS.needSince) ?? base.now;
      bb.set(SCALE_UP_KEYS.needSince, needSince);
    } else {
      bb.delete(SCALE_UP_KEYS.needSince);
    }
    const previous = bb.get<LaunchAttempt>(SCALE_UP_KEYS.attempt);
    const input: ScaleUpInput = {
      ...base,
      // only a recent fleet mean counts; without one the decision launches a single instance
      busy: recentLast(bb.series(FLEET_SERIES.busyMean)),
      demand: recentLast(bb.series(FLEET_KEYS.demand)),
      needSince,
      fleetViewAt: bb.get<number>(FLEET_KEYS.viewAt),
      previousAttempt: previous,
    };
    const decision = decideScaleUp(input);
    const facts = () => ({ ...decisionFacts(bb, base), busy: input.busy, demand: input.demand ?? null, needSince: needSince ?? null });
    if (!recordDecision(ctx, decision, facts) || decision.action !== 'launch') return;
    ctx.journal.record({
      kind: 'action',
      name: 'scale-up',
      reason: decision.reason,
      facts: facts(),
      data: { count: decision.count, desired: decision.desired, slots: decision.slots, tokens: decision.tokens },
    });
    await launchSlots(ctx, decision, base.self, previous);
  },
};

export default scaleUp;
