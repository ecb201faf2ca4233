import { join } from 'node:path';
import { formatRuleErrors, validateRuleDir } from './validate.js';

/**
 * `governor rules check DIR`: validates the directory's rule set as the governor would load it
 * and writes one line per error (file path, JSON path, message, expectation), or a summary of
 * the set when it is good. Returns the exit code: 0 good, 1 rejected.
 */
export async function runRulesCheck(dir: string, out: (line: string) => void): Promise<number> {
  const result = await validateRuleDir(dir);
  if (result.ruleSet) {
    const { rules, files, conditions } = result.ruleSet;
    out(`${dir}: OK, ${rules.length} rule(s) in ${files.length} file(s)${conditions.length > 0 ? `, ${conditions.length} shared condition(s)` : ''}`);
    for (const rule of rules) out(`  ${rule.file}: ${rule.name} -> ${rule.event.type} (priority ${rule.priority})`);
    return 0;
  }
  // Directory-level errors already name the directory; file errors get its path prefixed.
  const located = result.errors.map((e) => (e.file === dir ? e : { ...e, file: join(dir, e.file) }));
  for (const line of formatRuleErrors(located).split('\n')) out(line);
  out(`${dir}: rejected, ${result.errors.length} error(s)`);
  return 1;
}
