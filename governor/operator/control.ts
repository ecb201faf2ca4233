import type { BlackboardApi } from '../blackboard-types.js';
import type { InstanceInfo, SignalSummary } from '../cloud/port.js';
import { PLAIN_FACTS } from '../facts.js';
import type { JournalApi } from '../journal-types.js';
import { outcome, type Outcome } from './outcome.js';

/**
 * The region's Stop!/Go! state on one governor (#7). `control.paused` suspends scaling decisions
 * (scale-up and scale-down suppress with code 'paused'); serving goes on. The state travels to
 * peers in the published SignalSummary (`paused`, `controlSince`), and every governor adopts the
 * newest decision it sees, so the whole region converges, and a new instance inherits it.
 */
export const CONTROL_KEYS = {
  /** true while Stop! is in force (a rule fact too). */
  paused: PLAIN_FACTS.paused,
  /** When the decision in force was made (the operator's time, never later than this clock's now). */
  since: 'control.since',
  /** Who made it: 'operator (command cmd-...)', 'admin API', 'peer i-...'. */
  by: 'control.by',
} as const;

export interface ControlState {
  paused: boolean;
  since: number;
  by: string;
}

/** The decision in force here; undefined while none was ever made (scaling runs). */
export function readControl(bb: BlackboardApi): ControlState | undefined {
  const since = bb.get<number>(CONTROL_KEYS.since);
  if (typeof since !== 'number') return undefined;
  return { paused: bb.get(CONTROL_KEYS.paused) === true, since, by: bb.get<string>(CONTROL_KEYS.by) ?? 'unknown' };
}

/**
 * Whether decision `a` replaces `b`: the later decision wins; at the same time a pause wins over
 * a resume, so that every governor resolves a tie the same way.
 */
export function supersedes(a: ControlState, b: ControlState | undefined): boolean {
  if (!b) return true;
  if (a.since !== b.since) return a.since > b.since;
  return a.paused && !b.paused;
}

const word = (paused: boolean) => (paused ? 'paused (Stop!)' : 'resumed (Go!)');
const iso = (ms: number) => new Date(ms).toISOString();

/**
 * Puts decision `proposed` in force unless the one in force is as new or newer. A change of
 * the paused flag is journaled (kind 'action', name 'control'); a newer decision with the same
 * flag only moves `control.since` forward.
 */
export function applyControl(bb: BlackboardApi, journal: JournalApi, proposed: ControlState): Outcome {
  const current = readControl(bb);
  if (!supersedes(proposed, current)) {
    if (current!.paused === proposed.paused) return outcome('accepted', `already ${word(current!.paused)} since ${iso(current!.since)}`);
    return outcome(
      'superseded',
      `a newer decision stands: ${word(current!.paused)} at ${iso(current!.since)} by ${current!.by}`,
    );
  }
  bb.set(CONTROL_KEYS.paused, proposed.paused);
  bb.set(CONTROL_KEYS.since, proposed.since);
  bb.set(CONTROL_KEYS.by, proposed.by);
  const wasPaused = current?.paused ?? false;
  if (current === undefined || wasPaused !== proposed.paused) {
    journal.record({
      kind: 'action',
      name: 'control',
      reason: `${word(proposed.paused)} by ${proposed.by}: scaling decisions ${proposed.paused ? 'stop' : 'resume'}, serving continues`,
      data: { paused: proposed.paused, since: proposed.since, by: proposed.by, wasPaused },
    });
  }
  return outcome('accepted', `${word(proposed.paused)} as decided at ${iso(proposed.since)}`);
}

/** The newest control decision among the peers' published summaries (not `self`'s), if any. */
export function newestPeerControl(self: string, fleet: readonly InstanceInfo[]): ControlState | undefined {
  let newest: ControlState | undefined;
  for (const member of fleet) {
    const s = member.summary;
    if (member.id === self || s?.paused === undefined || s.controlSince === undefined) continue;
    const state: ControlState = { paused: s.paused, since: s.controlSince, by: `peer ${member.id}` };
    if (supersedes(state, newest)) newest = state;
  }
  return newest;
}

/**
 * Adopts the newest peer decision when it supersedes the one in force here: how a region
 * converges on its operators' last Stop!/Go!, and how a new instance inherits it.
 * Returns the adopted state, or undefined when nothing changed.
 */
export function adoptPeerControl(bb: BlackboardApi, journal: JournalApi, self: string, fleet: readonly InstanceInfo[]): ControlState | undefined {
  const peer = newestPeerControl(self, fleet);
  if (!peer || !supersedes(peer, readControl(bb))) return undefined;
  applyControl(bb, journal, peer);
  return peer;
}

/** The summary this governor publishes, carrying its control decision when it has one. */
export function withControlState(summary: SignalSummary, control: ControlState | undefined): SignalSummary {
  return control ? { ...summary, paused: control.paused, controlSince: control.since } : summary;
}
