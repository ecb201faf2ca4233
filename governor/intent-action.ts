import { isCurrentIntent, journalDue, type JournalMark } from './coordination.js';
import { describeError } from './errors.js';
import type { EventType, Intent } from './facts.js';
import { readIntentParams, type ParamSpec, type ParamValues } from './intent-params.js';
import type { JournalEntry } from './journal-types.js';
import type { TaskContext } from './task.js';

/**
 * The steps every action task behind a rule event shares (restart-worker, block-clients):
 * find a current intent, read its params, and journal what is not done without flooding the
 * journal while the intent stays current run after run.
 */

/** Blackboard key of the JournalMark of a task's last repeatable journal entry. */
export function journalMarkKey(task: string): string {
  return `${task}.journaled`;
}

/**
 * The current `intents.<type>` and its params read against `spec`; undefined when there is
 * none (then the journal mark is cleared, so the next intent's first suppression is journaled
 * at once) or when its params are bad (journaled as an error, GOV_ERR_ACTION_PARAMS).
 */
export function currentIntent<S extends ParamSpec>(ctx: TaskContext, type: EventType, spec: S): { intent: Intent; params: ParamValues<S> } | undefined {
  const intent = ctx.blackboard.get<Intent>(`intents.${type}`);
  if (!isCurrentIntent(intent, ctx.clock.now())) {
    ctx.blackboard.delete(journalMarkKey(ctx.name));
    return undefined;
  }
  try {
    return { intent: intent!, params: readIntentParams(intent!, spec) };
  } catch (err) {
    const error = describeError(err);
    journalOnce(ctx, 'params', { kind: 'error', name: ctx.name, reason: `not acting: ${error.message}`, data: { error } });
    return undefined;
  }
}

/**
 * Records `entry` unless the last entry journaled through here had the same `code` less than
 * a minute ago (coordination's journalDue): for suppressions, dry runs and failures that would
 * otherwise repeat on every run.
 */
export function journalOnce(ctx: TaskContext, code: string, entry: Omit<JournalEntry, 'seq' | 'at'>): void {
  const key = journalMarkKey(ctx.name);
  const now = ctx.clock.now();
  if (!journalDue(ctx.blackboard.get<JournalMark>(key), code, now)) return;
  ctx.blackboard.set(key, { code, at: now } satisfies JournalMark);
  ctx.journal.record({ ...entry, data: { code, ...entry.data } });
}
