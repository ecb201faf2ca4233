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

interface SharedListing {
  /** The clock second it was asked for in. */
  second: number;
  listing: Promise<readonly RuleFileEntry[]>;
  /** The reloaders it was given to. */
  takers: Set<RuleReloader>;
}

/** The latest listing of each directory: shared by every reloader of the process. */
const latestListings = new Map<string, SharedListing>();

/**
 * Lists `dir` for `taker`, or gives it the listing another reloader asked for in the same second
 * of the caller's clock (under way or done) in this process: governors that share a process and
 * a rule folder (a simulation runs many) and refresh in the same second list the folder once. A
 * change made within that second may then show only on the taker's next refresh, as a change
 * made just after a listing would. A reloader refreshing twice lists afresh; a failed listing is
 * not shared.
 */
function listShared(dir: string, now: number, taker: RuleReloader): Promise<readonly RuleFileEntry[]> {
  const second = Math.floor(now / 1000);
  const latest = latestListings.get(dir);
  if (latest?.second === second && !latest.takers.has(taker)) {
    latest.takers.add(taker);
    return latest.listing;
  }
  const listing = listRuleFiles(dir);
  const entry: SharedListing = { second, listing, takers: new Set([taker]) };
  latestListings.set(dir, entry);
  listing.catch(() => {
    if (latestListings.get(dir) === entry) latestListings.delete(dir);
  });
  return listing;
}

/**
 * Keeps a RuleRunner's set in step with a rule directory.
 *
 * Contract: `refresh` lists the directory (names, sizes, modification times; no reads; the
 * listing another reloader of this process made of the directory in the same clock second is
 * reused) and,
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
      listing = await listShared(this.dir, now, this);
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
