/**
 * The only source of time and timers for governor/ and tasks/.
 *
 * Contract: `now()` is milliseconds since the epoch; `setTimeout` callbacks run no earlier
 * than `ms` after the call, in clock order; `sleep` resolves after `ms`, or rejects with the
 * signal's reason as soon as the signal aborts (and clears its timer).
 */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** An opaque timer handle returned by `Clock.setTimeout`. */
export type TimerHandle = { readonly __timer: unique symbol } | object;

/** `clock.sleep` for Clock implementations: resolves after `ms` by `clock`'s timers, rejects when `signal` aborts. */
export function sleepWith(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clock.clearTimeout(handle);
      reject(signal?.reason);
    };
    const handle = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Wall-clock time and the process's real timers. */
export class RealClock implements Clock {
  now(): number {
    return Date.now();
  }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    return setTimeout(fn, ms);
  }
  clearTimeout(handle: TimerHandle): void {
    clearTimeout(handle as NodeJS.Timeout);
  }
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return sleepWith(this, ms, signal);
  }
}
