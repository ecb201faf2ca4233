// Vitest setup file: runs in every test process before any test file's own code.
//
// Node's fs.rm (promises and callback alike) lazily loads its internal rimraf module the first
// time it is called, and that module keeps the `setTimeout` of the `timers` module as it is at
// that moment, for the waits between retries (maxRetries). @sinonjs/fake-timers, which
// VirtualClock installs, patches the `timers` module too. When a process's first rm ran under a
// VirtualClock, every later rm that needs a retry waits on a fake timer of a clock already
// uninstalled, forever (a test's cleanup hung for 30 s this way). Calling rm once here, before
// any clock exists, makes it keep the real one.
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

await rm(join(tmpdir(), 'governor-test-no-such-path'), { force: true });
