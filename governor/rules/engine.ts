import type { BlackboardApi } from '../blackboard-types.js';
import type { Intent } from '../facts.js';
import { blackboardFacts, runEngine } from './fact-source.js';
import { intentsFrom } from './intents.js';
import { SerialQueue } from './serial-queue.js';
import type { LoadedRuleSet } from './types.js';

/**
 * Evaluates the active rule set against a blackboard.
 *
 * Contract:
 * - At most one evaluation runs on the engine at a time; calls queue in order. (json-rules-engine
 *   keeps its run status on the Engine: a run that finishes while another is between priority
 *   tiers marks the engine finished, and the other run silently skips its remaining tiers.)
 * - `load` swaps the set atomically: an evaluation uses the set active when its turn comes.
 * - With no set loaded, evaluation yields no intents.
 * - Facts read the blackboard at evaluation time; a missing value is null and compares false.
 */
export class RuleRunner {
  private active: LoadedRuleSet | undefined;
  private readonly queue = new SerialQueue();

  constructor(initial?: LoadedRuleSet) {
    this.active = initial;
  }

  /** The set evaluations use now; undefined until a good set is loaded. */
  get ruleSet(): LoadedRuleSet | undefined {
    return this.active;
  }

  load(ruleSet: LoadedRuleSet): void {
    this.active = ruleSet;
  }

  /** The intents the active rules emit for the blackboard's current facts, stamped `at: now`. */
  evaluate(blackboard: BlackboardApi, now: number): Promise<Intent[]> {
    return this.queue.run(async () => {
      const ruleSet = this.active;
      if (!ruleSet) return [];
      const { results } = await runEngine(ruleSet.engine, blackboardFacts(blackboard));
      return intentsFrom(results, ruleSet, now);
    });
  }
}
