import type { PhaseName } from '../../tasks/controlled-shutdown.js';
import type { Observation } from './channels.js';
import type { OperatorEvent } from './orchestrate.js';

/** The phases of a controlled shutdown in the order the task runs them. */
const PHASES: readonly PhaseName[] = ['not-ready', 'drain', 'flush', 'terminate'];

const secs = (ms: number) => `${(Math.max(0, ms) / 1000).toFixed(1)} s`;

/**
 * One line for the progress display of an instance leaving, e.g.
 * `i-0a1b leaving  2/4 drain  [not-ready ok 2.0 s | drain 3.1 s... | flush - | terminate -]`.
 * Pure: `now` is the time the running phase is measured to.
 */
export function formatShutdownProgress(instanceId: string, observation: Observation, now: number): string {
  const { state, progress } = observation;
  if (!progress) {
    return state === 'gone' ? `${instanceId} gone` : `${instanceId} ${state}  (no progress: its admin API is not reachable from here)`;
  }
  const cells = PHASES.map((name) => {
    const record = progress.phases.find((p) => p.name === name);
    if (!record) return `${name} -`;
    if (record.endedAt === undefined) return `${name} ${secs(now - record.startedAt)}...`;
    return `${name} ${record.outcome ?? 'ok'} ${secs(record.endedAt - record.startedAt)}`;
  });
  const index = PHASES.indexOf(progress.phase as PhaseName);
  const step = index >= 0 ? `${index + 1}/${PHASES.length} ${progress.phase}` : progress.phase;
  const head = state === 'gone' ? `${instanceId} gone` : `${instanceId} ${state}`;
  return `${head}  ${step}  [${cells.join(' | ')}]`;
}

/** One line per operator event (the CLI prints each). */
export function formatOperatorEvent(event: OperatorEvent, now: number): string {
  switch (event.type) {
    case 'sent':
      return `-> ${event.kind} ${event.instanceId} via ${event.via}`;
    case 'answer':
      return `<- ${event.instanceId}: ${event.outcome}${event.commandId ? ` (${event.commandId})` : ''}`;
    case 'progress':
      return `   ${formatShutdownProgress(event.instanceId, event.observation, now)}`;
    case 'note':
      return `   ${event.message}`;
  }
}

