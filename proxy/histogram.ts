/** Linear sub-buckets per power of two: a recorded value is off by at most 1/SUB_BUCKETS of itself. */
const SUB_BUCKETS = 16;
const SUB_BITS = 4;
/** Values below 2^(MAX_EXPONENT + 1) (about 25 days in ms) get their bucket; larger ones share OVERFLOW. */
const MAX_EXPONENT = 40;
const OVERFLOW = SUB_BUCKETS + (MAX_EXPONENT - SUB_BITS + 1) * SUB_BUCKETS;
const BUCKETS = OVERFLOW + 1;

function bucketOf(value: number): number {
  const v = Math.floor(value);
  if (v < SUB_BUCKETS) return Math.max(0, v);
  const exponent = Math.floor(Math.log2(v));
  if (exponent > MAX_EXPONENT) return OVERFLOW;
  const width = 2 ** (exponent - SUB_BITS);
  return SUB_BUCKETS + (exponent - SUB_BITS) * SUB_BUCKETS + Math.floor((v - 2 ** exponent) / width);
}

/** The middle of a bucket's range of whole values (unbounded for OVERFLOW). */
function representativeOf(bucket: number): number {
  if (bucket < SUB_BUCKETS) return bucket;
  if (bucket === OVERFLOW) return Infinity;
  const exponent = SUB_BITS + Math.floor((bucket - SUB_BUCKETS) / SUB_BUCKETS);
  const width = 2 ** (exponent - SUB_BITS);
  const low = 2 ** exponent + ((bucket - SUB_BUCKETS) % SUB_BUCKETS) * width;
  return low + (width - 1) / 2;
}

/**
 * A fixed-size log-linear histogram of non-negative values (whole units; fractions are dropped).
 * Memory is constant whatever the count. Percentiles are exact below 16 and within 1/16 of the
 * true value above; `max` and `count` are exact.
 */
export class Histogram {
  private readonly counts = new Float64Array(BUCKETS);
  private total = 0;
  private maximum = 0;

  record(value: number): void {
    this.counts[bucketOf(value)]++;
    this.total++;
    if (value > this.maximum) this.maximum = value;
  }

  get count(): number {
    return this.total;
  }

  get max(): number {
    return this.maximum;
  }

  /** The value at or below which a fraction `q` (0..1] of the recorded values fall; 0 when empty. */
  percentile(q: number): number {
    if (this.total === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.total));
    let seen = 0;
    for (let bucket = 0; bucket < BUCKETS; bucket++) {
      seen += this.counts[bucket];
      if (seen >= rank) return Math.min(representativeOf(bucket), this.maximum);
    }
    return this.maximum;
  }

  reset(): void {
    this.counts.fill(0);
    this.total = 0;
    this.maximum = 0;
  }
}
