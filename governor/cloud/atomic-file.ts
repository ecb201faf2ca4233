import { randomBytes } from 'node:crypto';
import { link, mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * JSON files that readers never see half-written, shared by the local registry's folders.
 * Writers first write a private temp file in the same folder (`<name>.<random>.tmp`, never
 * matching `*.json`), then publish it with one atomic rename or link. A writer that crashes
 * leaves at most a stray temp file, which every reader ignores. Missing folders are created.
 */

async function writeTemp(path: string, value: unknown): Promise<string> {
  await mkdir(dirname(path), { recursive: true });
  const temp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  await writeFile(temp, `${JSON.stringify(value, null, 2)}\n`, { flag: 'wx' });
  return temp;
}

/** Replaces (or creates) `path` with `value`: a concurrent reader sees the old or the new file, whole. */
export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  const temp = await writeTemp(path, value);
  try {
    await rename(temp, path);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
}

/**
 * Creates `path` with `value` only if nothing exists there yet; returns false when it existed.
 * Exclusive like open(O_CREAT|O_EXCL) even between processes (link(2) fails with EEXIST), and
 * the file appears complete: a racing loser can read the winner's content at once.
 */
export async function createJsonExclusive(path: string, value: unknown): Promise<boolean> {
  const temp = await writeTemp(path, value);
  try {
    await link(temp, path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    await rm(temp, { force: true });
  }
}

export type JsonRead = { kind: 'ok'; value: unknown } | { kind: 'missing' } | { kind: 'corrupt'; error: string };

/** Reads and parses `path`; a missing file and unparsable content are results, not exceptions. */
export async function readJson(path: string): Promise<JsonRead> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'missing' };
    throw err;
  }
  try {
    return { kind: 'ok', value: JSON.parse(text) as unknown };
  } catch (err) {
    return { kind: 'corrupt', error: (err as Error).message };
  }
}

/** Names of the `*.json` files in `dir`, sorted; [] when the folder does not exist yet. */
export async function listJsonFiles(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).filter((name) => name.endsWith('.json')).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

