import { performance, type EventLoopUtilization } from 'node:perf_hooks';

/**
 * Event-loop utilization per interval: each `sample()` returns the fraction (0..1) of the time
 * since the previous call (or since construction) that the event loop spent busy.
 */
export class BusyMeter {
  private last: EventLoopUtilization = performance.eventLoopUtilization();

  sample(): number {
    const now = performance.eventLoopUtilization();
    const interval = performance.eventLoopUtilization(now, this.last);
    this.last = now;
    return Number.isFinite(interval.utilization) ? interval.utilization : 0;
  }
}
