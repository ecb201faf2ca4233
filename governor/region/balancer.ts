/** What the balancer needs to know of a candidate backend. */
export interface Candidate {
  id: string;
  outstanding: number;
}

/**
 * Least outstanding requests, ties broken round robin: among `candidates`, the one with the
 * fewest outstanding requests; among equals, the first at or after position `cursor` (mod
 * length). The caller advances `cursor` after every pick so that equal backends take turns.
 * Returns undefined for an empty list. Pure.
 */
export function pickLeastOutstanding<T extends Candidate>(candidates: readonly T[], cursor: number): T | undefined {
  const n = candidates.length;
  let best: T | undefined;
  for (let i = 0; i < n; i++) {
    const candidate = candidates[(cursor + i) % n];
    if (best === undefined || candidate.outstanding < best.outstanding) best = candidate;
  }
  return best;
}
