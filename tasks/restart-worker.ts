import { describeError } from '../governor/errors.js';
import { currentIntent, journalOnce } from '../governor/intent-action.js';
import type { ParamSpec } from '../governor/intent-params.js';
import type { Task, TaskContext } from '../governor/task.js';
import type { ProxySample, WorkerSample } from '../proxy/types.js';
import { SIGNAL_KEYS } from './signals.js';

/** The params a `restart-worker` rule event may carry (rules/busy-loop.json). */
export const RESTART_PARAMS = {
  /** No restart within this long after the previous attempt (whether it worked or not). */
  cooldownSeconds: { default: 300, min: 0, max: 86_400, integer: true, unit: 'seconds' },
  /** A worker that received no request spins when its busy is at least this. */
  minBusy: { default: 0.8, min: 0, max: 1, unit: 'busy fraction' },
} satisfies ParamSpec;

/** Blackboard keys of the restart-worker task (besides its journal mark `restart-worker.journaled`). */
export const RESTART_KEYS = {
  /** RestartAttempt: the latest restart attempt; the cooldown counts from its start. */
  last: 'restart-worker.last',
} as const;

export interface RestartAttempt {
  at: number;
  worker: WorkerSample;
  /** 'started' until restartWorker settles (it stays so when the run timed out). */
  outcome: 'started' | 'restarted' | 'failed';
  replacedBy?: number;
  error?: { code?: string; message: string };
}

/** The spinning worker of a sample: no request received and busy >= minBusy; the busiest if several. */
export function spinningWorker(workers: readonly WorkerSample[], minBusy: number): WorkerSample | undefined {
  return workers.filter((w) => w.requests === 0 && w.busy >= minBusy).sort((a, b) => b.busy - a.busy || a.id - b.id)[0];
}

const pct = (fraction: number) => `${Math.round(fraction * 100)}%`;

function describeWorker(w: WorkerSample): string {
  return `worker ${w.id} (pid ${w.pid}, busy ${pct(w.busy)}, ${w.requests} request(s))`;
}

/**
 * Acts on `intents.restart-worker` (rules/busy-loop.json): from the latest proxy sample it picks
 * the worker that spins (busy at least `minBusy` while it received no request, the busiest if
 * several) and replaces it through ProxyControl.restartWorker, at most once per
 * `cooldownSeconds`. Journal: the restart (kind 'action', with the intent's facts and the
 * worker's sample) or its failure (kind 'error'); a restart not made (cooldown, no spinning
 * worker in the latest sample, restarts unavailable because the proxy runs in the governor's
 * process or has no restartWorker, dry run) as kind 'suppressed' or a dry-run 'action', once
 * a minute at most while the intent stays. Restarting is not a scaling decision: it also runs
 * while the region is paused.
 */
const restartWorker: Task = {
  name: 'restart-worker',
  schedule: '*/5 * * * * *',
  timeoutMs: 30_000,
  async run(ctx: TaskContext) {
    const current = currentIntent(ctx, 'restart-worker', RESTART_PARAMS);
    if (!current) return;
    const { intent, params } = current;
    const { blackboard: bb, clock, proxy } = ctx;
    const why = `rule '${intent.rule}' (${intent.file})`;
    const suppress = (code: string, reason: string, data: Record<string, unknown> = {}) =>
      journalOnce(ctx, code, { kind: 'suppressed', name: ctx.name, reason: `no restart: ${reason}; ${why}`, facts: intent.facts, data });

    const workers = bb.get<ProxySample>(SIGNAL_KEYS.sample)?.workers;
    if (!proxy?.restartWorker || workers === undefined) {
      const missing = !proxy ? 'no proxy in this governor' : !proxy.restartWorker ? 'the proxy cannot restart workers' : 'the proxy runs in the governor\'s process (no workers)';
      return suppress('unavailable', `restarting a worker is unavailable: ${missing}`);
    }
    const now = clock.now();
    const last = bb.get<RestartAttempt>(RESTART_KEYS.last);
    if (last && now - last.at < params.cooldownSeconds * 1000) {
      const ago = Math.round((now - last.at) / 1000);
      return suppress('cooldown', `cooldown: worker ${last.worker.id} was restarted ${ago} s ago (${last.outcome}); not again within ${params.cooldownSeconds} s`, { last });
    }
    const worker = spinningWorker(workers, params.minBusy);
    if (!worker) {
      const busiest = [...workers].sort((a, b) => b.busy - a.busy)[0];
      const seen = busiest ? `the busiest is ${describeWorker(busiest)}` : 'it lists no worker';
      return suppress('no-spinning-worker', `no worker spins in the latest sample (busy >= ${pct(params.minBusy)} with no request): ${seen}`, { workers });
    }
    const facts = { ...intent.facts, worker };
    if (ctx.config.scaling.dryRun) {
      return journalOnce(ctx, 'dry-run', { kind: 'action', name: ctx.name, reason: `dry run, not restarting ${describeWorker(worker)}; ${why}`, facts, data: { dryRun: true } });
    }
    bb.set(RESTART_KEYS.last, { at: now, worker, outcome: 'started' } satisfies RestartAttempt);
    try {
      const { replacedBy } = await proxy.restartWorker(worker.id);
      bb.set(RESTART_KEYS.last, { at: now, worker, outcome: 'restarted', replacedBy } satisfies RestartAttempt);
      ctx.journal.record({
        kind: 'action',
        name: ctx.name,
        reason: `restarted ${describeWorker(worker)}: it spins without serving; replaced by worker ${replacedBy}; ${why}`,
        facts,
        data: { worker: worker.id, pid: worker.pid, replacedBy, rule: intent.rule, file: intent.file },
      });
    } catch (err) {
      if (ctx.signal.aborted) throw err;
      const error = describeError(err);
      bb.set(RESTART_KEYS.last, { at: now, worker, outcome: 'failed', error } satisfies RestartAttempt);
      ctx.journal.record({ kind: 'error', name: ctx.name, reason: `restart of ${describeWorker(worker)} failed: ${error.message}; ${why}`, facts, data: { worker: worker.id, error } });
    }
  },
};

export default restartWorker;
