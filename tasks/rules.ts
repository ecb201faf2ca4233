import type { BlackboardApi } from '../governor/blackboard-types.js';
import type { Intent } from '../governor/facts.js';
import { RuleRunner } from '../governor/rules/engine.js';
import { RuleReloader, type ReloadOutcome } from '../governor/rules/reloader.js';
import { formatRuleErrors } from '../governor/rules/validate.js';
import type { Task, TaskContext } from '../governor/task.js';

/** Errors copied into one journal entry at most (the blackboard's `rules.errors` has them all). */
const JOURNALED_ERRORS = 20;

interface RulesState {
  dir: string;
  runner: RuleRunner;
  reloader: RuleReloader;
}

/** Per governor (one blackboard each; several may share a process in simulations). */
const states = new WeakMap<BlackboardApi, RulesState>();

function stateFor(ctx: TaskContext): RulesState {
  const dir = ctx.config.rulesDir;
  let state = states.get(ctx.blackboard);
  if (!state || state.dir !== dir) {
    const runner = new RuleRunner();
    state = { dir, runner, reloader: new RuleReloader(dir, runner) };
    states.set(ctx.blackboard, state);
  }
  return state;
}

/**
 * The rule task: reloads the rule directory when its listing changed, evaluates the active
 * rules, and publishes their intents.
 *
 * Blackboard:
 * - `intents.<type>`: the Intent each emitted event type; keys under `intents.` not emitted by
 *   this run are deleted.
 * - `rules.active`: [{file, name, event}] of the active set ([] while none is).
 * - `rules.lastReload`: {at, ok, files} of the last reload attempt.
 * - `rules.errors`: every error of the last attempt ([] when it succeeded).
 * Journal: kind 'rules' for every reload attempt; kind 'intent' when an intent appears, when the
 * rule deciding it changes, and when it clears (not on every run).
 */
const rulesTask: Task = {
  name: 'rules',
  schedule: '*/5 * * * * *',
  timeoutMs: 4000,
  async run(ctx) {
    const state = stateFor(ctx);
    const outcome = await state.reloader.refresh(ctx.clock.now());
    if (outcome) recordReload(ctx, outcome, state);
    ctx.signal.throwIfAborted();
    const intents = await state.runner.evaluate(ctx.blackboard, ctx.clock.now());
    ctx.signal.throwIfAborted();
    publishIntents(ctx, intents);
  },
};

export default rulesTask;

function recordReload(ctx: TaskContext, outcome: ReloadOutcome, { dir, runner }: RulesState): void {
  const active = runner.ruleSet;
  const { blackboard, journal, log } = ctx;
  blackboard.set('rules.lastReload', { at: outcome.at, ok: outcome.ok, files: outcome.files });
  blackboard.set('rules.errors', outcome.errors);
  blackboard.set('rules.active', active?.rules.map((r) => ({ file: r.file, name: r.name, event: r.event.type })) ?? []);

  if (outcome.ok) {
    const reason = `loaded ${active!.rules.length} rule(s) from ${outcome.files.length} file(s) in ${dir}`;
    journal.record({ kind: 'rules', name: 'reload', reason, data: { ok: true, files: outcome.files } });
    log.info({ files: outcome.files }, `rules: ${reason}`);
    return;
  }
  const kept = active ? `kept the last good set (${active.rules.length} rule(s))` : 'no rule set is active';
  const reason = `rejected the rule set in ${dir}: ${outcome.errors.length} error(s), ${kept}; first: ${formatRuleErrors(outcome.errors.slice(0, 1))}`;
  journal.record({
    kind: 'rules',
    name: 'reload',
    reason,
    data: { ok: false, files: outcome.files, errorCount: outcome.errors.length, errors: outcome.errors.slice(0, JOURNALED_ERRORS) },
  });
  log.warn({ code: 'GOV_ERR_RULES_INVALID', files: outcome.files, errors: outcome.errors }, `rules: ${reason}`);
}

function publishIntents(ctx: TaskContext, intents: readonly Intent[]): void {
  const { blackboard, journal } = ctx;
  const emitted = new Set<string>();
  for (const intent of intents) {
    const key = `intents.${intent.type}`;
    emitted.add(key);
    const previous = blackboard.get<Partial<Intent>>(key);
    blackboard.set(key, intent);
    if (previous?.rule === intent.rule && previous.file === intent.file) continue;
    const change = previous ? `now decided by rule '${intent.rule}' (was '${String(previous.rule)}')` : `rule '${intent.rule}'`;
    journal.record({
      kind: 'intent',
      name: intent.type,
      reason: `${intent.type}: ${change} in ${intent.file}; ${describeFacts(intent.facts)}`,
      facts: intent.facts,
      data: { state: previous ? 'changed' : 'appeared', rule: intent.rule, file: intent.file, params: intent.params, also: intent.also ?? [] },
    });
  }
  for (const key of blackboard.keys('intents.')) {
    if (emitted.has(key)) continue;
    blackboard.delete(key);
    const type = key.slice('intents.'.length);
    journal.record({ kind: 'intent', name: type, reason: `${type}: cleared, no rule emits it any more`, data: { state: 'cleared' } });
  }
}

/** `secondsAbove(fleet.busy,0.5)=312, fleet.size=3` */
function describeFacts(facts: Record<string, unknown>): string {
  const parts = Object.entries(facts).map(([label, value]) => `${label}=${typeof value === 'number' ? Number(value.toFixed(3)) : JSON.stringify(value)}`);
  return parts.length > 0 ? parts.join(', ') : 'no facts';
}
