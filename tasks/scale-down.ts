import { decideScaleDown } from '../governor/coordination.js';
import { describeError } from '../governor/errors.js';
import type { Task, TaskContext } from '../governor/task.js';
import { SHUTDOWN_KEYS, requestShutdown } from './controlled-shutdown.js';
import { decisionFacts, readDecisionInput, recordDecision } from './fleet.js';

const SHUTDOWN_TASK = 'controlled-shutdown';

/**
 * Every 5 s: turns a current `intents.scale-down` into a leave by the coordination protocol
 * (decideScaleDown): only rank 0 leaves, one at a time, never the last instance nor below the
 * minimum, after the scale-down spacing. The leave is a controlled shutdown of this instance:
 * it requests one and invokes 'controlled-shutdown' without waiting for it (the shutdown runs
 * under its own timeout). Every leave and suppression is journaled; dryRun journals only.
 */
const scaleDown: Task = {
  name: 'scale-down',
  schedule: '*/5 * * * * *',
  timeoutMs: 4000,
  run(ctx: TaskContext) {
    const bb = ctx.blackboard;
    const input = readDecisionInput(ctx, 'scale-down');
    const decision = decideScaleDown(input);
    const facts = () => decisionFacts(bb, input);
    if (!recordDecision(ctx, decision, facts) || decision.action !== 'leave') return;
    ctx.journal.record({ kind: 'action', name: 'scale-down', reason: decision.reason, facts: facts() });
    requestShutdown(bb, { by: 'scale-down', reason: decision.reason, at: input.now });
    // the scheduler journals a failed shutdown run itself; only a refused invoke is ours to record
    ctx.invoke(SHUTDOWN_TASK).catch((err: unknown) => {
      bb.delete(SHUTDOWN_KEYS.request);
      ctx.journal.record({
        kind: 'error',
        name: 'scale-down',
        reason: `could not start ${SHUTDOWN_TASK}: ${describeError(err).message}`,
        data: { error: describeError(err) },
      });
    });
  },
};

export default scaleDown;
