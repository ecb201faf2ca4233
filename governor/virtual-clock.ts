import * as FakeTimers from '@sinonjs/fake-timers';
import { sleepWith, type Clock, type TimerHandle } from './clock.js';

type InstalledClock = ReturnType<typeof FakeTimers.install>;

/**
 * Virtual time over @sinonjs/fake-timers, installed on the global object so that libraries
 * that read `Date` and set timers themselves (node-cron) follow it too.
 *
 * Contract: time moves only through `advance`/`advanceTo`, which run every timer that falls due,
 * in order, letting promise callbacks settle between timers. `uninstall()` restores the real
 * globals; always call it (tests: in `afterEach`). Only one VirtualClock may be installed at once.
 */
export class VirtualClock implements Clock {
  private readonly fake: InstalledClock;

  constructor(startMs = Date.UTC(2026, 0, 1)) {
    this.fake = FakeTimers.install({
      now: startMs,
      toFake: ['Date', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'setImmediate', 'clearImmediate'],
      shouldClearNativeTimers: true,
    });
  }

  now(): number {
    return this.fake.now;
  }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    return this.fake.setTimeout(fn, ms) as unknown as TimerHandle;
  }
  clearTimeout(handle: TimerHandle): void {
    this.fake.clearTimeout(handle as unknown as number);
  }
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return sleepWith(this, ms, signal);
  }
  /** Moves time forward by `ms`, firing due timers and settling promises between them. */
  async advance(ms: number): Promise<void> {
    await this.fake.tickAsync(ms);
  }
  /**
   * Moves time forward by `ms` at once, firing each due timer at most once (as a real process
   * does after its event loop was blocked), instead of one fire per interval.
   */
  jump(ms: number): void {
    this.fake.jump(ms);
  }
  /** Settles pending promise callbacks without moving time. */
  async settle(): Promise<void> {
    await this.fake.tickAsync(0);
  }
  uninstall(): void {
    this.fake.uninstall();
  }
}
