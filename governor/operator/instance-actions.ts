import { SHUTDOWN_KEYS, requestShutdown, type ShutdownRequest } from '../../tasks/controlled-shutdown.js';
import type { BlackboardApi } from '../blackboard-types.js';
import type { Clock } from '../clock.js';
import type { Cloud } from '../cloud/port.js';
import { describeError } from '../errors.js';
import type { JournalApi } from '../journal-types.js';
import type { TaskRunRecord } from '../task.js';
import { applyControl } from './control.js';
import { outcome, type Outcome } from './outcome.js';

/**
 * What an operator's command does on the instance it reaches, whichever channel brought it
 * (the cloud command channel: tasks/commands.ts; the signed admin API: ./control-routes.ts).
 */
export interface InstanceActionDeps {
  blackboard: BlackboardApi;
  journal: JournalApi;
  clock: Clock;
  cloud: Pick<Cloud, 'identity' | 'listFleet'>;
  /** Runs a task by name (the scheduler's invoke). */
  invoke(name: string): Promise<TaskRunRecord>;
}

export const SHUTDOWN_TASK = 'controlled-shutdown';

export interface OperatorShutdown {
  /** Who asks: 'operator (command cmd-...)', 'admin API'. */
  by: string;
  reason: string;
  /** Also when no other member of the region serves (the region goes dark). */
  includingLast: boolean;
}

/**
 * Starts a controlled shutdown of this instance for an operator, without waiting for it (its
 * progress is in `shutdown.phase` / `shutdown.progress`). Refused, and journaled as suppressed,
 * when no other member of the fleet in the region is running and `includingLast` is not set:
 * the last instance of a region is never shut down by default. Idempotent: an instance already
 * shutting down (for any reason) answers accepted. Rejects when the fleet cannot be listed.
 */
export async function shutdownThisInstance(deps: InstanceActionDeps, ask: OperatorShutdown): Promise<Outcome> {
  const { blackboard: bb, journal, clock } = deps;
  if (bb.get(SHUTDOWN_KEYS.done) === true) return outcome('accepted', 'this instance has already shut down');
  const under = bb.get<ShutdownRequest>(SHUTDOWN_KEYS.request);
  if (under) return outcome('accepted', `a controlled shutdown is already under way (by ${under.by}: ${under.reason})`);

  const { id } = await deps.cloud.identity();
  const others = (await deps.cloud.listFleet()).filter((i) => i.id !== id && i.state === 'running').length;
  if (others === 0 && !ask.includingLast) {
    const reason = 'refused: this is the last serving instance of the region (no other member is running); ask with includingLast to shut it down anyway';
    journal.record({ kind: 'suppressed', name: 'operator-shutdown', reason, data: { by: ask.by, code: 'last-instance' } });
    return outcome('refused', reason.slice('refused: '.length));
  }
  const remain = others === 0 ? 'the region goes dark (includingLast)' : `${others} other serving member(s) remain`;
  journal.record({ kind: 'action', name: 'operator-shutdown', reason: `controlled shutdown asked by ${ask.by} (${ask.reason}); ${remain}`, data: { ...ask } });
  requestShutdown(bb, { by: ask.by, reason: ask.reason, at: clock.now() });
  // the scheduler journals a failed shutdown run itself; only a refused invoke is ours to record
  deps.invoke(SHUTDOWN_TASK).catch((err: unknown) => {
    bb.delete(SHUTDOWN_KEYS.request);
    journal.record({
      kind: 'error',
      name: 'operator-shutdown',
      reason: `could not start ${SHUTDOWN_TASK}: ${describeError(err).message}`,
      data: { error: describeError(err) },
    });
  });
  return outcome('accepted', `controlled shutdown started; ${remain}`);
}

/**
 * Puts an operator's Stop! (paused) or Go! decision in force here. `decidedAt` is the operator's
 * time of decision; a time ahead of this clock counts as now, so a skewed clock cannot make a
 * decision outlast later ones.
 */
export function controlThisInstance(deps: Pick<InstanceActionDeps, 'blackboard' | 'journal' | 'clock'>, paused: boolean, decidedAt: number, by: string): Outcome {
  return applyControl(deps.blackboard, deps.journal, { paused, since: Math.min(decidedAt, deps.clock.now()), by });
}
