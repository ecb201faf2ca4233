import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, GovError, describeError, isGovError } from '../../governor/errors.js';

const README = readFileSync(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8');

/** Rows `| \`GOV_ERR_X\` | meaning |` of the README's "Error codes" section. */
function documentedCodes(): Map<string, string> {
  const section = README.split(/^## Error codes$/m)[1]?.split(/^## /m)[0];
  if (!section) throw new Error('README.md has no "## Error codes" section');
  const rows = new Map<string, string>();
  for (const match of section.matchAll(/^\|\s*`(GOV_ERR_[A-Z0-9_]+)`\s*\|\s*(.+?)\s*\|$/gm)) rows.set(match[1], match[2]);
  return rows;
}

describe('the error registry', () => {
  it('documents every code in the README, and documents nothing else', () => {
    const documented = documentedCodes();
    expect([...documented.keys()].sort()).toEqual(Object.keys(ERROR_CODES).sort());
    for (const [code, meaning] of documented) expect(meaning).toBe(ERROR_CODES[code as keyof typeof ERROR_CODES]);
  });

  it('carries the code and details on GovError and describes anything thrown', () => {
    const err = new GovError('GOV_ERR_CONFIG_INVALID', 'bad', { key: 'proxy.port' });
    expect(isGovError(err, 'GOV_ERR_CONFIG_INVALID')).toBe(true);
    expect(isGovError(err, 'GOV_ERR_TASK_LOAD')).toBe(false);
    expect(err.details).toEqual({ key: 'proxy.port' });
    expect(describeError(err)).toEqual({ code: 'GOV_ERR_CONFIG_INVALID', message: 'bad' });
    expect(describeError(new Error('plain'))).toEqual({ code: undefined, message: 'plain' });
    expect(describeError('text')).toEqual({ message: 'text' });
  });
});
