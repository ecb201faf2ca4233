#!/usr/bin/env node
// `npm run bundle` (after `npm run build`): a self-contained tarball the machine image installs.
//   node ami/bundle.mjs [--out DIR]      -> DIR/governor-<version>.tgz (default DIR: the project root)
// The tarball holds one folder, governor-<version>/, with the built code (dist/governor, dist/tasks,
// dist/proxy), the status page's static files (governor/status-page/), the default rules
// (rules/), the image defaults and unit (ami/), package.json and package-lock.json, README.md,
// and the production dependencies: exactly the lockfile's non-dev
// packages, copied from the installed node_modules (run `npm ci` first; no network is used).
// Files are owned by root (0:0) in the archive. Exit codes: 0 ok, 1 failed.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** What the bundle holds besides node_modules: [path in the project, required]. */
const CONTENT = [
  ['dist/governor', true],
  ['dist/tasks', true],
  ['dist/proxy', true],
  // the status page's static files, read at start-up from the package root (tsc does not copy them)
  ['governor/status-page/index.html', true],
  ['governor/status-page/app.js', true],
  ['governor/status-page/style.css', true],
  ['rules', true],
  ['ami/image-config.json', true],
  ['ami/governor.service', true],
  ['package.json', true],
  ['package-lock.json', true],
  ['README.md', false],
];

const readJson = (file) => JSON.parse(readFileSync(file, 'utf8'));

/** The lockfile's production packages ('node_modules/a', 'node_modules/a/node_modules/b'...). */
export function productionPackages(lock) {
  if (!lock.packages) throw new Error('package-lock.json has no "packages" (lockfileVersion 2 or later is needed)');
  return Object.entries(lock.packages)
    .filter(([path, entry]) => path.startsWith('node_modules/') && !entry.dev && !entry.link)
    .map(([path, entry]) => ({ path, version: entry.version, optional: entry.optional === true }));
}

/** Copies each production package (without its nested node_modules, listed on their own). */
function copyDependencies(root, stage, lock) {
  const problems = [];
  let copied = 0;
  for (const { path, version, optional } of productionPackages(lock)) {
    const from = join(root, path);
    if (!existsSync(join(from, 'package.json'))) {
      if (!optional) problems.push(`${path} is not installed`);
      continue;
    }
    const installed = readJson(join(from, 'package.json')).version;
    if (version !== undefined && installed !== version) problems.push(`${path} is ${installed}, the lockfile wants ${version}`);
    const nested = join(from, 'node_modules');
    cpSync(from, join(stage, path), { recursive: true, filter: (src) => src !== nested && !src.startsWith(nested + '/') });
    copied++;
  }
  if (problems.length > 0) throw new Error(`node_modules does not match package-lock.json (run npm ci):\n  ${problems.join('\n  ')}`);
  return copied;
}

/** Builds the tarball into `outDir`; returns its path. */
export function bundle({ root = ROOT, outDir = root } = {}) {
  const pkg = readJson(join(root, 'package.json'));
  if (!existsSync(join(root, 'dist/governor/cli.js'))) throw new Error('dist/governor/cli.js is missing: run `npm run build` first');
  const name = `governor-${pkg.version}`;
  const work = mkdtempSync(join(tmpdir(), 'governor-bundle-'));
  try {
    const stage = join(work, name);
    for (const [path, required] of CONTENT) {
      if (!existsSync(join(root, path))) {
        if (required) throw new Error(`${path} is missing`);
        continue;
      }
      cpSync(join(root, path), join(stage, path), { recursive: true });
    }
    copyDependencies(root, stage, readJson(join(root, 'package-lock.json')));
    const archive = join(resolve(outDir), `${name}.tgz`);
    execFileSync('tar', ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '-czf', archive, '-C', work, name], { stdio: 'inherit' });
    return archive;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    const { values } = parseArgs({ options: { out: { type: 'string' } }, strict: true });
    process.stdout.write(`${bundle({ outDir: values.out })}\n`);
  } catch (err) {
    process.stderr.write(`bundle: ${err.message}\n`);
    process.exit(1);
  }
}
