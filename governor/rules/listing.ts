import { readdir, stat } from 'node:fs/promises';
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
 * readdir and one stat per file, no reads. Rejects when `dir` cannot be listed.
 */
export async function listRuleFiles(dir: string): Promise<RuleFileEntry[]> {
  const names = (await readdir(dir)).filter(isRuleFileName).sort();
  const entries = await Promise.all(
    names.map(async (name): Promise<RuleFileEntry | undefined> => {
      try {
        const info = await stat(join(dir, name));
        return info.isFile() ? { name, size: info.size, mtimeMs: info.mtimeMs } : undefined;
      } catch {
        return undefined; // removed between readdir and stat: not part of the set
      }
    }),
  );
  return entries.filter((e): e is RuleFileEntry => e !== undefined);
}

/** A string that changes whenever a rule file is added, removed, resized or touched. */
export function listingSignature(entries: readonly RuleFileEntry[]): string {
  return entries.map((e) => `${e.name}\0${e.size}\0${e.mtimeMs}`).join('\n');
}
