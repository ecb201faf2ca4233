import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** A rule file in a rule directory, as the file system last saw it. */
export interface RuleFileEntry {
  /** Base name, e.g. scale-up-busy.json. */
  name: string;
  size: number;
  mtimeMs: number;
}

/**
 * Whether a directory entry is a rule file: `*.json`, except `*.schema.json` (rule.schema.json
 * ships beside the rules) and hidden files (editors' lock and backup files start with a dot).
 */
export function isRuleFileName(name: string): boolean {
  return name.endsWith('.json') && !name.endsWith('.schema.json') && !name.startsWith('.');
}

/**
 * The rule files of `dir` (regular files only, following symlinks), sorted by name. Cheap: one
 * readdir and one stat per file, no reads; done synchronously, because for a local folder of a
 * few files that takes microseconds, far less than a thread-pool round trip per call. Rejects
 * when `dir` cannot be listed or one of its rule files cannot be examined (but a file removed
 * since the readdir is simply not part of the set).
 */
export async function listRuleFiles(dir: string): Promise<RuleFileEntry[]> {
  const names = readdirSync(dir).filter(isRuleFileName).sort();
  const entries: RuleFileEntry[] = [];
  for (const name of names) {
    const info = statSync(join(dir, name), { throwIfNoEntry: false }); // gone since readdir: not part of the set
    if (info?.isFile()) entries.push({ name, size: info.size, mtimeMs: info.mtimeMs });
  }
  return entries;
}

/** A string that changes whenever a rule file is added, removed, resized or touched. */
export function listingSignature(entries: readonly RuleFileEntry[]): string {
  return entries.map((e) => `${e.name}\0${e.size}\0${e.mtimeMs}`).join('\n');
}
