import type { RuleRunner } from './engine.js';
import { listRuleFiles, listingSignature, type RuleFileEntry } from './listing.js';
import type { RuleError } from './types.js';
import { validateListedFiles, validateRuleDir } from './validate.js';

/** What one reload did. */
export interface ReloadOutcome {
  at: number;
  /** true: the new set is active; false: it was rejected and the previous set (if any) stays. */
  ok: boolean;
  /** The rule files the attempt saw, by base name. */
  files: string[];
  /** Empty when ok. */
  errors: RuleError[];
}

/** Listings under way, by directory: shared by every reloader of the process. */
const listingsUnderWay = new Map<string, Promise<readonly RuleFileEntry[]>>();

/**
 * Lists `dir`, or joins a listing of it already under way in this process: governors that share
 * a process and a rule folder (a simulation runs many) and refresh at the same moment list the
 * folder once. A joined listing started before the call, so a change made meanwhile may show only
 * on the next refresh, as a change made just after a listing would.
 */
function listShared(dir: string): Promise<readonly RuleFileEntry[]> {
  let listing = listingsUnderWay.get(dir);
  if (!listing) {
    listing = listRuleFiles(dir).finally(() => listingsUnderWay.delete(dir));
    listingsUnderWay.set(dir, listing);
  }
  return listing;
}

/**
 * Keeps a RuleRunner's set in step with a rule directory.
 *
 * Contract: `refresh` lists the directory (names, sizes, modification times; no reads; a listing
 * of the same directory under way in this process is joined instead of repeated) and,
 * when the listing differs from the one last seen (always on the first call), validates the
 * whole set. A good set is loaded into the runner; a bad one is rejected and the runner keeps
 * its set. An unchanged listing returns undefined without reading any file, so a rejected set
 * is not re-reported until something changes.
 */
export class RuleReloader {
  private lastSignature: string | undefined;

  constructor(
    readonly dir: string,
    private readonly runner: RuleRunner,
  ) {}

  async refresh(now: number): Promise<ReloadOutcome | undefined> {
    let listing;
    try {
      listing = await listShared(this.dir);
    } catch {
      listing = undefined;
    }
    const signature = listing ? listingSignature(listing) : 'unlistable';
    if (signature === this.lastSignature) return undefined;
    this.lastSignature = signature;

    const result = listing ? await validateListedFiles(this.dir, listing) : await validateRuleDir(this.dir);
    if (result.ruleSet) this.runner.load(result.ruleSet);
    return { at: now, ok: result.ok, files: listing?.map((e) => e.name) ?? [], errors: result.errors };
  }
}
