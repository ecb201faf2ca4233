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
    series: (name) => (blackboard.seriesNames().includes(name) ? blackboard.series(name) : undefined),
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

type FactCallback = (params: Record<string, unknown>) => unknown;

const PERCENTILES: Record<Exclude<WindowStat, 'avg' | 'min' | 'max'>, number> = { p50: 50, p90: 90, p95: 95, p99: 99 };

/**
 * json-rules-engine facts (id -> calculation) for one evaluation: every catalog fact, reading
 * `source` at call time. A missing value is null, so every comparison with it is false (the
 * numeric operators reject null; equal/in never match it unless a rule asks for null).
 * Params are trusted: validation checked them.
 */
export function engineFacts(source: FactSource): Record<string, FactCallback> {
  const facts: Record<string, FactCallback> = {};
  for (const key of Object.values(PLAIN_FACTS)) facts[key] = () => source.get(key) ?? null;
  facts.window = (params) => windowValue(source, params as unknown as WindowParams);
  facts.secondsAbove = (params) => {
    const { series, threshold } = params as unknown as ThresholdParams;
    return source.series(series)?.secondsAbove(threshold) ?? null;
  };
  facts.secondsBelow = (params) => {
    const { series, threshold } = params as unknown as ThresholdParams;
    return source.series(series)?.secondsBelow(threshold) ?? null;
  };
  return facts;
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
