import { Almanac, type Engine, type EngineResult } from 'json-rules-engine';
import type { BlackboardApi, SeriesReader } from '../blackboard-types.js';
import { PLAIN_FACTS, type WindowStat } from '../facts.js';

/** What rule facts read: plain values and existing series. Reading never creates anything. */
export interface FactSource {
  get(key: string): unknown;
  /** The named series, or undefined when no one has written it. */
  series(name: string): SeriesReader | undefined;
}

/** A FactSource over a blackboard (a series nobody wrote reads as missing, and is not created). */
export function blackboardFacts(blackboard: BlackboardApi): FactSource {
  return {
    get: (key) => blackboard.get(key),
    series: (name) => blackboard.existingSeries(name),
  };
}

/** A FactSource with nothing in it: every fact resolves to null (the validator's dry run). */
export const EMPTY_FACTS: FactSource = { get: () => undefined, series: () => undefined };

interface WindowParams {
  series: string;
  seconds: number;
  stat: WindowStat;
}

interface ThresholdParams {
  series: string;
  threshold: number;
}

const PERCENTILES: Record<Exclude<WindowStat, 'avg' | 'min' | 'max'>, number> = { p50: 50, p90: 90, p95: 95, p99: 99 };

/**
 * One evaluation's view of a FactSource: each fact (with its params) is computed at most once
 * per evaluation, so every rule of a run sees the same value. A missing value is null, so every
 * comparison with it is false (the numeric operators reject null; equal/in never match it
 * unless a rule asks for null). Params are trusted: validation checked them.
 */
class FactEvaluation {
  private readonly memo = new Map<string, unknown>();

  constructor(private readonly source: FactSource) {}

  value(fact: string, params: Record<string, unknown>): unknown {
    const label = factLabel(fact, params);
    if (this.memo.has(label)) return this.memo.get(label);
    const value = this.compute(fact, params);
    this.memo.set(label, value);
    return value;
  }

  private compute(fact: string, params: Record<string, unknown>): unknown {
    const { source } = this;
    switch (fact) {
      case 'window':
        return windowValue(source, params as unknown as WindowParams);
      case 'secondsAbove': {
        const { series, threshold } = params as unknown as ThresholdParams;
        return source.series(series)?.secondsAbove(threshold) ?? null;
      }
      case 'secondsBelow': {
        const { series, threshold } = params as unknown as ThresholdParams;
        return source.series(series)?.secondsBelow(threshold) ?? null;
      }
      default:
        return source.get(fact) ?? null;
    }
  }
}

/** The almanac of one run: carries the run's FactEvaluation to the facts registered on the engine. */
class EvaluationAlmanac extends Almanac {
  constructor(readonly evaluation: FactEvaluation) {
    super({ allowUndefinedFacts: false });
  }
}

/** Every catalog fact: the plain facts and the parametrized ones. */
const CATALOG_FACTS: readonly string[] = [...Object.values(PLAIN_FACTS), 'window', 'secondsAbove', 'secondsBelow'];

/**
 * Registers every catalog fact on `engine`, once, when the engine is built. The facts read the
 * FactSource of the run they are evaluated in, so an engine run only through `runEngine`.
 * json-rules-engine's own fact cache is off: it hashes the params on every lookup, which costs
 * more than the lookups; FactEvaluation memoizes per run instead.
 */
export function addCatalogFacts(engine: Engine): void {
  for (const id of CATALOG_FACTS) {
    engine.addFact(id, (params, almanac) => (almanac as EvaluationAlmanac).evaluation.value(id, params), { cache: false });
  }
}

/** Runs `engine` (built with addCatalogFacts) with its facts reading `source` at call time. */
export function runEngine(engine: Engine, source: FactSource): Promise<EngineResult> {
  return engine.run({}, { almanac: new EvaluationAlmanac(new FactEvaluation(source)) });
}

function windowValue(source: FactSource, { series, seconds, stat }: WindowParams): number | null {
  const reader = source.series(series);
  if (!reader) return null;
  switch (stat) {
    case 'avg':
      return reader.avg(seconds);
    case 'min':
      return reader.min(seconds);
    case 'max':
      return reader.max(seconds);
    default:
      return reader.percentile(PERCENTILES[stat], seconds);
  }
}

/**
 * A readable name for a fact with its params, used as the key of an intent's deciding facts:
 * `fleet.size`, `window(fleet.busy,avg,60s)`, `secondsAbove(fleet.busy,0.5)`.
 */
export function factLabel(fact: string, params: Record<string, unknown> | undefined): string {
  if (fact === 'window' && params) return `window(${String(params.series)},${String(params.stat)},${String(params.seconds)}s)`;
  if ((fact === 'secondsAbove' || fact === 'secondsBelow') && params) return `${fact}(${String(params.series)},${String(params.threshold)})`;
  return fact;
}
