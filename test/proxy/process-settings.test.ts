import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { PROXY_MALLOC_TUNABLES, PROXY_NODE_FLAGS, proxyProcessEnv, withProxyNodeFlags } from '../../proxy/process-settings.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TUNABLES = PROXY_MALLOC_TUNABLES.join(':');
const SHEBANG = `#!/usr/bin/env -S GLIBC_TUNABLES=${TUNABLES} node ${PROXY_NODE_FLAGS.join(' ')}`;

describe('the Node flags of proxy processes', () => {
  it('are added after the process\'s own flags, once', () => {
    expect(PROXY_NODE_FLAGS).toEqual(['--initial-old-space-size=128']);
    expect(withProxyNodeFlags([])).toEqual([...PROXY_NODE_FLAGS]);
    expect(withProxyNodeFlags(['--enable-source-maps'])).toEqual(['--enable-source-maps', ...PROXY_NODE_FLAGS]);
    expect(withProxyNodeFlags(withProxyNodeFlags([]))).toEqual([...PROXY_NODE_FLAGS]);
  });

  it('leave a value the operator gave as it is', () => {
    expect(withProxyNodeFlags(['--initial-old-space-size=512'])).toEqual(['--initial-old-space-size=512']);
  });
});

describe('the malloc settings of proxy processes (GLIBC_TUNABLES)', () => {
  it('keep the heap: trim threshold 128 MiB, mmap threshold 32 MiB', () => {
    expect(proxyProcessEnv({})).toEqual({ GLIBC_TUNABLES: 'glibc.malloc.trim_threshold=134217728:glibc.malloc.mmap_threshold=33554432' });
    expect(proxyProcessEnv({ GLIBC_TUNABLES: '' })).toEqual(proxyProcessEnv({}));
    expect(proxyProcessEnv(proxyProcessEnv({}))).toEqual(proxyProcessEnv({}));
  });

  it('come after the operator\'s own tunables, and leave a value the operator gave as it is', () => {
    expect(proxyProcessEnv({ GLIBC_TUNABLES: 'glibc.malloc.arena_max=2' })).toEqual({ GLIBC_TUNABLES: `glibc.malloc.arena_max=2:${TUNABLES}` });
    expect(proxyProcessEnv({ GLIBC_TUNABLES: 'glibc.malloc.trim_threshold=1048576' })).toEqual({
      GLIBC_TUNABLES: 'glibc.malloc.trim_threshold=1048576:glibc.malloc.mmap_threshold=33554432',
    });
  });

  it('default to this process\'s environment', () => {
    expect(proxyProcessEnv()).toEqual(proxyProcessEnv(process.env));
  });

  it('are applied by glibc, every one of them', () => {
    // The dynamic loader prints the tunables it parsed from the environment it was given.
    const loader = ['/lib64/ld-linux-x86-64.so.2', '/lib/ld-linux-aarch64.so.1'].find((path) => existsSync(path));
    expect(loader, 'a glibc dynamic loader').toBeDefined();
    const listed = execFileSync(loader!, ['--list-tunables'], { encoding: 'utf8', env: proxyProcessEnv({}) });
    const valueOf = (name: string) => Number(new RegExp(`^${name.replaceAll('.', '\\.')}: (0x[0-9a-f]+)`, 'm').exec(listed)?.[1]);
    expect(valueOf('glibc.malloc.trim_threshold')).toBe(128 * 1024 * 1024);
    expect(valueOf('glibc.malloc.mmap_threshold')).toBe(32 * 1024 * 1024);
  });
});

describe('the CLI run as a program', () => {
  const dir = mkdtempSync(join(tmpdir(), 'governor-flags-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('starts with the proxy\'s Node flags and malloc settings, through its #! line', () => {
    expect(readFileSync(join(ROOT, 'governor/cli.ts'), 'utf8').split('\n')[0]).toBe(SHEBANG);
    // The same line on a script that prints what Node was given: env -S sets the variable and splits the flags.
    const script = join(dir, 'settings.mjs');
    writeFileSync(script, `${SHEBANG}\nconsole.log(JSON.stringify([process.execArgv, process.env.GLIBC_TUNABLES]));\n`);
    chmodSync(script, 0o755);
    expect(JSON.parse(execFileSync(script, { encoding: 'utf8' }))).toEqual([[...PROXY_NODE_FLAGS], TUNABLES]);
  });
});
