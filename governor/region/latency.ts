/**
 * A fixed-size latency histogram: memory does not grow with the number of samples.
 * Resolution: 1 ms below 1 s, 10 ms below 10 s, 100 ms up to 120 s; longer values fall in the last bucket.
 */
const RANGES = [
  { upTo: 1_000, step: 1 },
  { upTo: 10_000, step: 10 },
  { upTo: 120_000, step: 100 },
] as const;
const MAX_MS = RANGES[RANGES.length - 1].upTo;

function bucketOf(ms: number): number {
  let index = 0;
  let from = 0;
  const value = Math.max(0, ms);
  for (const { upTo, step } of RANGES) {
    if (value < upTo) return index + Math.floor((value - from) / step);
    index += (upTo - from) / step;
    from = upTo;
  }
  return index - 1; // MAX_MS and beyond: the last bucket
}

/** The lowest value that falls into bucket `index`. */
function valueOf(index: number): number {
  let from = 0;
  for (const { upTo, step } of RANGES) {
    const size = (upTo - from) / step;
    if (index < size) return from + index * step;
    index -= size;
    from = upTo;
  }
  return MAX_MS;
}

const BUCKETS = bucketOf(MAX_MS) + 1;

export class LatencyHistogram {
  private readonly counts = new Uint32Array(BUCKETS);
  private total = 0;
  private maxMs = 0;

  record(ms: number): void {
    this.counts[bucketOf(ms)]++;
    this.total++;
    if (ms > this.maxMs) this.maxMs = ms;
  }

  get count(): number {
    return this.total;
  }

  get max(): number {
    return this.maxMs;
  }

  /** The value at quantile `q` (0..1) at bucket resolution; 0 when empty. */
  quantile(q: number): number {
    if (this.total === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.total));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i];
      if (seen >= rank) return Math.min(valueOf(i), this.maxMs);
    }
    return this.maxMs;
  }

  reset(): void {
    this.counts.fill(0);
    this.total = 0;
    this.maxMs = 0;
  }
}
