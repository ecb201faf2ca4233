import type { BlackboardApi } from '../governor/blackboard-types.js';
import { GovError, describeError } from '../governor/errors.js';
import type { Task, TaskContext } from '../governor/task.js';

/** Blackboard keys of a controlled shutdown. */
export const SHUTDOWN_KEYS = {
  /** ShutdownRequest: who asked and why. The task runs its phases only when one is present. */
  request: 'shutdown.request',
  /** The phase in progress, then 'done' or 'failed'. While present the instance reports not ready. */
  phase: 'shutdown.phase',
  /** ShutdownProgress: every phase with its times and outcome. */
  progress: 'shutdown.progress',
  /** true once this instance terminated itself: the process owner watches it and exits. */
  done: 'shutdown.done',
} as const;

export interface ShutdownRequest {
  /** 'scale-down', 'operator', a command id... */
  by: string;
  reason: string;
  at: number;
}

export type PhaseName = 'not-ready' | 'drain' | 'flush' | 'terminate';

export interface PhaseRecord {
  name: PhaseName;
  startedAt: number;
  endedAt?: number;
  outcome?: 'ok' | 'timeout' | 'error';
  detail?: string;
}

export interface ShutdownProgress {
  phase: PhaseName | 'done' | 'failed';
  startedAt: number;
  request: ShutdownRequest;
  phases: PhaseRecord[];
}

/**
 * Asks for a controlled shutdown of this instance; then `invoke('controlled-shutdown')`.
 * The first request stands: a later one does not replace it.
 */
export function requestShutdown(blackboard: BlackboardApi, request: ShutdownRequest): void {
  if (!blackboard.has(SHUTDOWN_KEYS.request)) blackboard.set(SHUTDOWN_KEYS.request, request);
}

/** Pause between terminateSelf attempts within the terminate phase. */
const TERMINATE_RETRY_MS = 1000;

interface Phase {
  name: PhaseName;
  timeoutMs: number;
  /** Resolves with a detail for the record; rejects for an 'error' outcome. */
  run(signal: AbortSignal): Promise<string>;
}

function phasesOf(ctx: TaskContext): Phase[] {
  const { clock, cloud, proxy, config, log } = ctx;
  const { notReadyMs, drainTimeoutMs, phaseTimeoutMs } = config.shutdown;
  // leaving a load balancer target group waits for its deregistration delay (ec2 adapter)
  const { targetGroupArn, deregistrationWaitMs } = config.cloud.ec2;
  const leavingWaitMs = config.cloud.adapter === 'ec2' && targetGroupArn !== undefined ? deregistrationWaitMs : 0;
  return [
    {
      name: 'not-ready',
      timeoutMs: notReadyMs + phaseTimeoutMs + leavingWaitMs,
      async run(signal) {
        proxy?.setReady(false);
        // the wait runs even when the cloud fails: the load balancer still has to notice
        const marking = cloud.markLeaving().then(
          () => undefined,
          (err: unknown) => err,
        );
        await clock.sleep(notReadyMs, signal);
        const failure = await marking;
        if (failure !== undefined) throw failure;
        return `${proxy ? 'proxy not ready' : 'no proxy'}, marked leaving, waited ${notReadyMs} ms`;
      },
    },
    {
      name: 'drain',
      timeoutMs: drainTimeoutMs + phaseTimeoutMs,
      async run() {
        if (!proxy) return 'no proxy: nothing to drain';
        const { completed, abandoned } = await proxy.drain(drainTimeoutMs);
        return `stopped accepting; ${completed} request(s) completed, ${abandoned} abandoned at the ${drainTimeoutMs} ms deadline`;
      },
    },
    {
      name: 'flush',
      timeoutMs: phaseTimeoutMs,
      async run() {
        await new Promise<void>((resolve, reject) => log.flush((err) => (err ? reject(err) : resolve())));
        return 'log flushed';
      },
    },
    {
      name: 'terminate',
      timeoutMs: phaseTimeoutMs,
      async run(signal) {
        const giveUpAt = clock.now() + phaseTimeoutMs - TERMINATE_RETRY_MS;
        for (let attempt = 1; ; attempt++) {
          try {
            await cloud.terminateSelf();
            return `terminated (attempt ${attempt})`;
          } catch (err) {
            if (clock.now() >= giveUpAt) throw err;
            log.warn({ err: describeError(err), attempt }, 'terminateSelf failed; retrying');
          }
          await clock.sleep(TERMINATE_RETRY_MS, signal);
        }
      },
    },
  ];
}

type PhaseOutcome = { outcome: 'ok'; detail: string } | { outcome: 'timeout'; detail: string } | { outcome: 'error'; detail: string };

/** Runs one phase under its own timeout (by the clock); rethrows only when the task itself is aborted. */
async function runWithTimeout(ctx: TaskContext, phase: Phase): Promise<PhaseOutcome> {
  const phaseAbort = new AbortController();
  const signal = AbortSignal.any([ctx.signal, phaseAbort.signal]);
  let timer: ReturnType<typeof ctx.clock.setTimeout> | undefined;
  const timedOut = new Promise<PhaseOutcome>((resolve) => {
    timer = ctx.clock.setTimeout(
      () => resolve({ outcome: 'timeout', detail: `no end within ${phase.timeoutMs} ms` }),
      phase.timeoutMs,
    );
  });
  const work = phase.run(signal).then(
    (detail): PhaseOutcome => ({ outcome: 'ok', detail }),
    (err: unknown): PhaseOutcome => ({ outcome: 'error', detail: describeError(err).message }),
  );
  try {
    const result = await Promise.race([work, timedOut]);
    ctx.signal.throwIfAborted();
    return result;
  } finally {
    ctx.clock.clearTimeout(timer!);
    phaseAbort.abort();
  }
}

/**
 * A controlled shutdown of this instance (DESIGN.md), run when invoked with a request in
 * `shutdown.request` (scale-down, an operator command). Phases, each with a timeout:
 * 1 not-ready (proxy not ready, cloud markLeaving, wait notReadyMs so load balancers stop
 * sending), 2 drain (stop accepting; in-flight and queued requests finish or are abandoned at
 * drainTimeoutMs), 3 flush (logs), 4 terminate (cloud terminateSelf, retried within the phase).
 * A phase that fails or times out is recorded and the next one still runs. Progress is in
 * `shutdown.phase` / `shutdown.progress` and the journal; on success `shutdown.done` = true.
 * If terminate fails the instance stays not ready and leaving, `shutdown.phase` = 'failed', and
 * the run fails with GOV_ERR_SHUTDOWN_FAILED (invoke again to retry).
 *
 * Its schedule is yearly only because a task needs one: a fire without a request does nothing.
 * timeoutMs must cover notReadyMs + drainTimeoutMs + 4 x phaseTimeoutMs (the defaults take 75 s),
 * plus cloud.ec2.deregistrationWaitMs with a load balancer target group (default 300 s).
 */
const controlledShutdown: Task = {
  name: 'controlled-shutdown',
  schedule: '0 0 0 1 1 *',
  timeoutMs: 600_000,
  async run(ctx: TaskContext) {
    const { blackboard: bb, clock, journal } = ctx;
    if (bb.get(SHUTDOWN_KEYS.done) === true) {
      journal.record({ kind: 'info', name: ctx.name, reason: 'already shut down: nothing to do' });
      return;
    }
    const request = bb.get<ShutdownRequest>(SHUTDOWN_KEYS.request);
    if (!request) {
      journal.record({ kind: 'info', name: ctx.name, reason: `run without a request in ${SHUTDOWN_KEYS.request}: nothing to do` });
      return;
    }
    const phases = phasesOf(ctx);
    const progress: ShutdownProgress = { phase: phases[0].name, startedAt: clock.now(), request, phases: [] };
    const publish = () => {
      bb.set(SHUTDOWN_KEYS.phase, progress.phase);
      bb.set(SHUTDOWN_KEYS.progress, { ...progress, phases: progress.phases.map((p) => ({ ...p })) });
    };
    journal.record({ kind: 'action', name: ctx.name, reason: `controlled shutdown started (by ${request.by}: ${request.reason})` });

    let last: PhaseOutcome | undefined;
    for (const phase of phases) {
      const record: PhaseRecord = { name: phase.name, startedAt: clock.now() };
      progress.phase = phase.name;
      progress.phases.push(record);
      publish();
      last = await runWithTimeout(ctx, phase);
      Object.assign(record, { endedAt: clock.now(), outcome: last.outcome, detail: last.detail });
      publish();
      journal.record({
        kind: last.outcome === 'ok' ? 'action' : 'error',
        name: `${ctx.name}.${phase.name}`,
        reason: `${phase.name}: ${last.outcome}, ${last.detail}`,
        data: { ...record },
      });
    }

    if (last?.outcome !== 'ok') {
      progress.phase = 'failed';
      publish();
      throw new GovError('GOV_ERR_SHUTDOWN_FAILED', `controlled shutdown could not terminate this instance: ${last?.detail}`, {
        progress,
      });
    }
    progress.phase = 'done';
    publish();
    journal.record({ kind: 'action', name: ctx.name, reason: `controlled shutdown complete in ${clock.now() - progress.startedAt} ms` });
    bb.set(SHUTDOWN_KEYS.done, true);
  },
};

export default controlledShutdown;
