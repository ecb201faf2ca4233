import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { PROXY_NODE_FLAGS, withProxyNodeFlags } from '../../proxy/node-flags.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SHEBANG = `#!/usr/bin/env -S node ${PROXY_NODE_FLAGS.join(' ')}`;

describe('the Node flags of proxy processes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'governor-flags-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('are added after the process\'s own flags, once', () => {
    expect(withProxyNodeFlags([])).toEqual([...PROXY_NODE_FLAGS]);
    expect(withProxyNodeFlags(['--enable-source-maps'])).toEqual(['--enable-source-maps', ...PROXY_NODE_FLAGS]);
    expect(withProxyNodeFlags(withProxyNodeFlags([]))).toEqual([...PROXY_NODE_FLAGS]);
  });

  it('leave a value the operator gave as it is', () => {
    expect(withProxyNodeFlags(['--initial-old-space-size=512'])).toEqual(['--initial-old-space-size=512']);
  });

  it('start the CLI when it is run as a program, through its #! line', () => {
    expect(readFileSync(join(ROOT, 'governor/cli.ts'), 'utf8').split('\n')[0]).toBe(SHEBANG);
    // The same line on a script that prints what Node was given: env -S splits it into flags.
    const script = join(dir, 'flags.mjs');
    writeFileSync(script, `${SHEBANG}\nconsole.log(JSON.stringify(process.execArgv));\n`);
    chmodSync(script, 0o755);
    expect(JSON.parse(execFileSync(script, { encoding: 'utf8' }))).toEqual([...PROXY_NODE_FLAGS]);
  });
});
