export interface RetryBudgetSettings {
  /** Retries at most this fraction of requests over the window. */
  ratio: number;
  /** Retries allowed per second whatever the ratio. */
  minPerSecond: number;
  windowMs: number;
}

const BUCKETS = 10;

/**
 * A retry budget (linkerd's): over a sliding window, retries may add at most `ratio` of the
 * requests seen, plus `minPerSecond` per second of window so that light traffic can retry at all.
 * A failing origin therefore sees at most (1 + ratio) times the load plus a small constant, never
 * a retry storm. Counts live in ten buckets of windowMs / 10: constant memory and time.
 */
export class RetryBudget {
  private readonly requests = new Float64Array(BUCKETS);
  private readonly retries = new Float64Array(BUCKETS);
  private readonly bucketMs: number;
  private bucketStart = 0;
  private bucket = 0;
  private spent = 0;
  private refused = 0;

  constructor(
    private readonly settings: RetryBudgetSettings,
    private readonly now: () => number = Date.now,
  ) {
    this.bucketMs = settings.windowMs / BUCKETS;
    this.bucketStart = now();
  }

  /** An original request (not a retry) was sent. */
  recordRequest(): void {
    this.advance();
    this.requests[this.bucket]++;
  }

  /** Whether a retry may go now; when it may, it is counted against the budget. */
  tryRetry(): boolean {
    this.advance();
    const requests = sum(this.requests);
    const retries = sum(this.retries);
    const allowance = this.settings.ratio * requests + (this.settings.minPerSecond * this.settings.windowMs) / 1000;
    if (retries + 1 > allowance) {
      this.refused++;
      return false;
    }
    this.retries[this.bucket]++;
    this.spent++;
    return true;
  }

  /** Retries made and refused since start. */
  counts(): { retried: number; refused: number } {
    return { retried: this.spent, refused: this.refused };
  }

  /** Moves to the bucket of now, emptying the buckets that fell out of the window. */
  private advance(): void {
    const now = this.now();
    const steps = Math.floor((now - this.bucketStart) / this.bucketMs);
    if (steps <= 0) return;
    for (let i = 0; i < Math.min(steps, BUCKETS); i++) {
      this.bucket = (this.bucket + 1) % BUCKETS;
      this.requests[this.bucket] = 0;
      this.retries[this.bucket] = 0;
    }
    this.bucketStart += steps * this.bucketMs;
  }
}

function sum(values: Float64Array): number {
  let total = 0;
  for (const value of values) total += value;
  return total;
}
