import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { VirtualClock } from '../../governor/virtual-clock.js';
import { Governor } from '../../governor/governor.js';
import type { Task } from '../../governor/task.js';
import { TestRegion, testConfig } from '../tasks/context.js';

describe('Governor', () => {
  let clock: VirtualClock;
  let region: TestRegion;

  beforeEach(async () => {
    clock = new VirtualClock();
    region = await TestRegion.create(clock);
  });
  afterEach(async () => {
    clock.uninstall();
    await region.cleanup();
  });

  it('starts its tasks and records who it is', async () => {
    const [id] = await region.addRunning(1);
    let runs = 0;
    const tick: Task = { name: 'tick', schedule: '*/1 * * * * *', timeoutMs: 500, run: () => void runs++ };
    const governor = new Governor({ config: testConfig(), clock, cloud: region.cloudFor(id), log: pino({ level: 'silent' }), tasks: [tick] });
    await governor.start();
    await clock.advance(3_000);
    expect(runs).toBeGreaterThanOrEqual(2);
    expect(governor.blackboard.get('governor.identity')).toMatchObject({ id });
    expect(governor.meta()).toMatchObject({ identity: { id }, version: expect.any(String) });
    await governor.stop();
  });

  it('keeps running when the cloud cannot say who it is at start, and journals it', async () => {
    const [id] = await region.addRunning(1);
    region.failures.failNext('identity', 1);
    let runs = 0;
    const tick: Task = { name: 'tick', schedule: '*/1 * * * * *', timeoutMs: 500, run: () => void runs++ };
    const governor = new Governor({ config: testConfig(), clock, cloud: region.cloudFor(id), log: pino({ level: 'silent' }), tasks: [tick] });
    await governor.start();
    await clock.advance(2_000);
    expect(runs).toBeGreaterThanOrEqual(1);
    expect(governor.journal.query({ kind: 'error', name: 'governor.start' })[0].reason).toMatch(/identity unavailable/);
    await governor.stop();
  });
});
