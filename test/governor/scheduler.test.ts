import { Writable } from 'node:stream';
import cron from 'node-cron';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Blackboard } from '../../governor/blackboard.js';
import { VirtualClock } from '../../governor/virtual-clock.js';
import type { Cloud } from '../../governor/cloud/port.js';
import type { GovernorConfig } from '../../governor/config-types.js';
import { isGovError } from '../../governor/errors.js';
import { Journal } from '../../governor/journal.js';
import { createLogger } from '../../governor/log.js';
import { Scheduler } from '../../governor/scheduler.js';
import type { Task, TaskContext, TaskRunRecord } from '../../governor/task.js';

const EVERY_SECOND = '*/1 * * * * *';
const config = { fleet: 'test' } as GovernorConfig;
const cloud = {} as Cloud;

/** Time passes with no timer firing: what a blocked event loop looks like to node-cron. */
function blockEventLoop(clock: VirtualClock, ms: number): void {
  clock.jump(ms);
}

function task(name: string, schedule: string, run: Task['run'], timeoutMs = 10_000): Task {
  return { name, schedule, timeoutMs, run };
}

describe('Scheduler', () => {
  let clock: VirtualClock;
  let blackboard: Blackboard;
  let journal: Journal;
  let scheduler: Scheduler;
  let logLines: Array<Record<string, unknown>>;

  beforeEach(() => {
    clock = new VirtualClock();
    blackboard = new Blackboard(clock);
    journal = new Journal({ clock, blackboard });
    logLines = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        logLines.push(JSON.parse(String(chunk)));
        done();
      },
    });
    scheduler = new Scheduler({ clock, blackboard, journal, log: createLogger('debug', sink), services: { config, cloud } });
  });

  afterEach(async () => {
    const stopping = scheduler.stop(0);
    await clock.settle();
    await stopping;
    clock.uninstall();
  });

  it('runs an every-second task about 300 times in 300 virtual seconds', async () => {
    let runs = 0;
    scheduler.add(task('tick', EVERY_SECOND, () => void runs++));
    scheduler.start();
    await clock.advance(300_000);
    expect(runs).toBeGreaterThanOrEqual(299);
    expect(runs).toBeLessThanOrEqual(300);
    const record = scheduler.record('tick')!;
    expect(record).toMatchObject({ name: 'tick', outcome: 'ok', runs, failures: 0, skipped: 0, durationMs: 0 });
    expect(blackboard.get('tasks.tick')).toEqual(record);
  });

  it('runs a periodic task, a thrower, a hung task and a timeout-exceeder side by side', async () => {
    let fiveSecondRuns = 0;
    scheduler.add(task('five', '*/5 * * * * *', () => void fiveSecondRuns++));
    scheduler.add(
      task('thrower', '*/2 * * * * *', async () => {
        throw new Error('cloud exploded');
      }),
    );
    // Honours nothing and never settles: every run ends at its timeout.
    scheduler.add(task('hung', EVERY_SECOND, () => new Promise<void>(() => {}), 3000));
    // Ignores its signal and finishes after its timeout.
    scheduler.add(
      task('slow', '5,15,25,35,45,55 * * * * *', () => new Promise<void>((resolve) => clock.setTimeout(resolve, 4000)), 2000),
    );
    scheduler.start();
    // A failure never reaches node-cron (whose maxExecutions would not count it anyway).
    let cronFailures = 0;
    for (const cronTask of cron.getTasks().values()) cronTask.on('execution:failed', () => void cronFailures++);
    await clock.advance(60_000);

    expect(cronFailures).toBe(0);
    expect(fiveSecondRuns).toBe(12);
    expect(scheduler.record('five')).toMatchObject({ outcome: 'ok', runs: 12, failures: 0 });

    const thrower = scheduler.record('thrower')!;
    expect(thrower.runs).toBe(30);
    expect(thrower.failures).toBe(30);
    expect(thrower).toMatchObject({ outcome: 'error', error: { code: 'GOV_ERR_TASK_FAILED', message: 'cloud exploded' } });

    // Fires at 1 s .. 60 s: a run every 3 s (two fires find it running, then its timeout frees
    // the slot for the third); the run started at 58 s is still going.
    const hung = scheduler.record('hung')!;
    expect(hung).toMatchObject({ outcome: 'running', runs: 20, failures: 19, skipped: 40 });

    const slow = scheduler.record('slow')!;
    expect(slow).toMatchObject({ outcome: 'timeout', runs: 6, failures: 6, durationMs: 2000 });
    expect(slow.error).toEqual({ code: 'GOV_ERR_TASK_TIMEOUT', message: 'task "slow" exceeded its timeout of 2000 ms' });

    const errors = journal.query({ kind: 'error', limit: 1000 });
    expect(errors.filter((e) => e.name === 'thrower')).toHaveLength(30);
    expect(errors.filter((e) => e.name === 'slow')).toHaveLength(6);
    expect(errors.find((e) => e.name === 'slow')!.reason).toBe('timed out after 2000 ms and was aborted');
  });

  it('records a synchronous throw and a non-Error rejection', async () => {
    scheduler.add(
      task('sync', EVERY_SECOND, () => {
        throw Object.assign(new Error('bad state'), { code: 'GOV_ERR_CLOUD_UNAVAILABLE' });
      }),
    );
    scheduler.add(task('odd', EVERY_SECOND, () => Promise.reject('a string')));
    expect(await scheduler.invoke('sync')).toMatchObject({
      outcome: 'error',
      error: { code: 'GOV_ERR_CLOUD_UNAVAILABLE', message: 'bad state' },
    });
    expect((await scheduler.invoke('odd')).error).toEqual({ code: 'GOV_ERR_TASK_FAILED', message: 'a string' });
  });

  it('writes the record at the start of a run and at its end', async () => {
    const seen: TaskRunRecord[] = [];
    blackboard.watch('tasks.phases', (_key, value) => seen.push(value as TaskRunRecord));
    scheduler.add(task('phases', EVERY_SECOND, (ctx) => ctx.sleep(500)));
    const done = scheduler.invoke('phases');
    expect(seen.map((r) => r.outcome)).toEqual(['running']);
    expect(seen[0].durationMs).toBeUndefined();
    await clock.advance(500);
    await done;
    expect(seen.map((r) => r.outcome)).toEqual(['running', 'ok']);
    expect(seen[1]).toMatchObject({ durationMs: 500, runs: 1 });
  });

  it('joins a run in progress on invoke, and skips cron fires while it runs', async () => {
    let runs = 0;
    scheduler.add(
      task('launch', '*/2 * * * * *', async (ctx) => {
        runs++;
        await ctx.sleep(5000);
      }),
    );
    const first = scheduler.invoke('launch');
    const second = scheduler.invoke('launch');
    expect(second).toBe(first);
    scheduler.start();
    await clock.advance(5000);
    const record = await first;
    expect(record).toMatchObject({ outcome: 'ok', runs: 1, durationMs: 5000 });
    expect(runs).toBe(1);
    // Fires at +2 s and +4 s found the invoked run going.
    expect(record.skipped).toBe(2);
  });

  it('lets a task invoke another and run in phases with ctx.sleep', async () => {
    const phases: Array<[string, number]> = [];
    const start = clock.now();
    scheduler.add(task('metrics', '0 0 0 1 1 *', (ctx) => void ctx.blackboard.set('metrics.flushed', ctx.clock.now() - start)));
    scheduler.add(
      task('shutdown', '0 0 0 1 1 *', async (ctx: TaskContext) => {
        for (const [phase, ms] of [['not-ready', 1000], ['drain', 3000]] as const) {
          ctx.blackboard.set('shutdown.phase', phase);
          phases.push([phase, ctx.clock.now() - start]);
          await ctx.sleep(ms);
        }
        const flushed = await ctx.invoke('metrics');
        phases.push([`flush:${flushed.outcome}`, ctx.clock.now() - start]);
      }),
    );
    const done = scheduler.invoke('shutdown');
    await clock.advance(4000);
    expect((await done).outcome).toBe('ok');
    expect(phases).toEqual([
      ['not-ready', 0],
      ['drain', 1000],
      ['flush:ok', 4000],
    ]);
    expect(blackboard.get('metrics.flushed')).toBe(4000);
  });

  it('aborts the run signal at the timeout, rejecting ctx.sleep', async () => {
    let caught: unknown;
    scheduler.add(
      task(
        'sleepy',
        EVERY_SECOND,
        async (ctx) => {
          try {
            await ctx.sleep(60_000);
          } catch (err) {
            caught = err;
            throw err;
          }
        },
        1000,
      ),
    );
    const done = scheduler.invoke('sleepy');
    await clock.advance(1000);
    expect((await done).outcome).toBe('timeout');
    expect(isGovError(caught, 'GOV_ERR_TASK_TIMEOUT')).toBe(true);
  });

  it('counts fires missed while the event loop was blocked and never replays them', async () => {
    let runs = 0;
    scheduler.add(task('tick', EVERY_SECOND, () => void runs++));
    scheduler.start();
    await clock.advance(10_000);
    expect(runs).toBe(10);
    blockEventLoop(clock, 30_500);
    await clock.advance(2000);
    const record = scheduler.record('tick')!;
    // Woken at 40.5 s: the fires of 11 s .. 39 s are missed (counted, never replayed), the one
    // of 40 s runs late, then 41 s and 42 s run on time.
    expect(runs).toBe(13);
    expect(record).toMatchObject({ runs: 13, skipped: 29 });
    expect(logLines.some((l) => String(l.msg).startsWith('fire skipped: missed'))).toBe(true);
  });

  it('stops the schedules, waits up to the deadline, then abandons what still runs', async () => {
    let quickRuns = 0;
    scheduler.add(
      task('quick', EVERY_SECOND, async (ctx) => {
        quickRuns++;
        await ctx.sleep(300);
      }),
    );
    let stubbornSignal: AbortSignal | undefined;
    scheduler.add(
      task(
        'stubborn',
        '0 0 0 1 1 *',
        (ctx) => {
          stubbornSignal = ctx.signal;
          return new Promise<void>(() => {});
        },
        60_000,
      ),
    );
    scheduler.start();
    await clock.advance(1100);
    const stubborn = scheduler.invoke('stubborn');
    expect(quickRuns).toBe(1);
    const stopping = scheduler.stop(5000);
    await clock.advance(4999);
    expect(stubbornSignal!.aborted).toBe(false);
    await clock.advance(1);
    expect(await stopping).toEqual({ abandoned: ['stubborn'] });
    expect(stubbornSignal!.aborted).toBe(true);
    expect(await stubborn).toMatchObject({ outcome: 'error', error: { code: 'GOV_ERR_TASK_ABORTED' } });
    expect(scheduler.record('quick')).toMatchObject({ outcome: 'ok', runs: 1 });

    await clock.advance(10_000);
    expect(quickRuns).toBe(1);
    // The node-cron tasks are destroyed, not just paused: nothing is left in its registry.
    expect([...cron.getTasks().values()].filter((t) => t.name?.startsWith('governor:'))).toEqual([]);
    await expect(scheduler.invoke('quick')).rejects.toMatchObject({ code: 'GOV_ERR_TASK_ABORTED' });
    expect(await scheduler.stop(5000)).toEqual({ abandoned: ['stubborn'] });
  });

  it('stops early when every run finishes before the deadline', async () => {
    scheduler.add(task('brief', '0 0 0 1 1 *', (ctx) => ctx.sleep(200)));
    const run = scheduler.invoke('brief');
    const stopping = scheduler.stop(60_000);
    await clock.advance(200);
    expect(await stopping).toEqual({ abandoned: [] });
    expect((await run).outcome).toBe('ok');
  });

  it('rejects unknown, invalid and duplicate tasks', async () => {
    scheduler.add(task('a', EVERY_SECOND, () => {}));
    expect(() => scheduler.add(task('a', EVERY_SECOND, () => {}))).toThrow(/duplicate task name "a"/);
    expect(() => scheduler.add(task('b', '* * * * *', () => {}))).toThrow(/invalid task "b": schedule: expected a 6-field/);
    await expect(scheduler.invoke('nope')).rejects.toMatchObject({ code: 'GOV_ERR_TASK_UNKNOWN' });
    expect(scheduler.record('a')).toBeUndefined();
  });

  it('schedules a task added after start', async () => {
    scheduler.start();
    let runs = 0;
    scheduler.add(task('late', EVERY_SECOND, () => void runs++));
    await clock.advance(3000);
    expect(runs).toBe(3);
  });
});
