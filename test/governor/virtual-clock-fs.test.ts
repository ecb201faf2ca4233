import { once } from 'node:events';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { VirtualClock } from '../../governor/virtual-clock.js';

/**
 * Keeps writing files into `dir` on another thread for at most 10 s, so that removing `dir`
 * meets ENOTEMPTY and retries. Resolves once the first file is written.
 */
async function keepFilling(dir: string): Promise<Worker> {
  const source = `
    const { mkdirSync, writeFileSync } = require('node:fs');
    const { parentPort, workerData } = require('node:worker_threads');
    const until = Date.now() + 10000;
    for (let n = 0; Date.now() < until; n++) {
      try { mkdirSync(workerData, { recursive: true }); writeFileSync(workerData + '/f' + (n % 50), 'x'); } catch {}
      if (n === 0) parentPort.postMessage('writing');
    }`;
  const worker = new Worker(source, { eval: true, workerData: dir });
  await once(worker, 'message');
  return worker;
}

describe('fs.rm after a VirtualClock (test/load-fs-rm-with-real-timers.ts)', () => {
  let writer: Worker | undefined;
  let parent: string | undefined;
  afterEach(async () => {
    await writer?.terminate();
    if (parent !== undefined) await rm(parent, { recursive: true, force: true });
  });

  it('waits between retries on real timers even when a VirtualClock was installed during an earlier rm', async () => {
    const clock = new VirtualClock();
    await rm(join(tmpdir(), 'governor-test-no-such-path'), { force: true });
    clock.uninstall();

    parent = await mkdtemp(join(tmpdir(), 'governor-rm-'));
    const dir = join(parent, 'busy');
    await mkdir(dir);
    writer = await keepFilling(dir);
    const outcome = await rm(dir, { recursive: true, force: true, maxRetries: 3, retryDelay: 5 }).then(
      () => 'removed',
      (err: NodeJS.ErrnoException) => err.code,
    );
    // Either way it settled: under the trap it never does and the test times out.
    expect(['removed', 'ENOTEMPTY']).toContain(outcome);
  }, 5_000);
});
