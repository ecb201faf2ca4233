import type { ProxyControl, ProxySample, ProxyTotals } from '../../proxy/types.js';

/** A sample with every count zero over one second; `over` replaces fields. */
export function sampleOf(over: Partial<ProxySample> = {}): ProxySample {
  return {
    intervalMs: 1000,
    busy: 0,
    requests: 0,
    shed: 0,
    status: { '1xx': 0, '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0 },
    queueWaitMs: { p50: 0, p95: 0, p99: 0, max: 0, count: 0 },
    inFlight: 0,
    queueDepth: 0,
    topClients: [],
    bytesIn: 0,
    bytesOut: 0,
    ...over,
  };
}

/**
 * A ProxyControl whose samples the test sets (`next`), whose readiness it records, and whose
 * drain resolves when the test says (`finishDrain`) or at once with `drainResult`.
 */
export class FakeProxy implements ProxyControl {
  next: ProxySample = sampleOf();
  ready = true;
  readyCalls: boolean[] = [];
  drainCalls: number[] = [];
  /** When set, drain() resolves with it at once; otherwise it waits for finishDrain(). */
  drainResult: { completed: number; abandoned: number } | undefined = { completed: 0, abandoned: 0 };
  private pendingDrain?: (r: { completed: number; abandoned: number }) => void;

  sample(): ProxySample {
    return this.next;
  }
  totals(): ProxyTotals {
    return { requests: 0, shed: 0, status: this.next.status, bytesIn: 0, bytesOut: 0, errors: {} };
  }
  isReady(): boolean {
    return this.ready;
  }
  setReady(ready: boolean): void {
    this.ready = ready;
    this.readyCalls.push(ready);
  }
  drain(deadlineMs: number): Promise<{ completed: number; abandoned: number }> {
    this.drainCalls.push(deadlineMs);
    if (this.drainResult) return Promise.resolve(this.drainResult);
    return new Promise((resolve) => (this.pendingDrain = resolve));
  }
  finishDrain(result: { completed: number; abandoned: number }): void {
    this.pendingDrain?.(result);
  }
}
