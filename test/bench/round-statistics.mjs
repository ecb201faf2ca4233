// Statistics of a benchmark's rounds. The machine's speed changes from one round to the next, so
// a target's figure is a median of rounds, and how far that median can be trusted is an interval
// read off the same rounds, assuming nothing about how they spread.

/** The median of numbers: the mean of the two middle values of an even count. */
export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** The middle item of `items` by `value`: one of the items, so the lower middle of an even count (a target's median round). */
export const medianBy = (items, value) => [...items].sort((a, b) => value(a) - value(b))[Math.floor((items.length - 1) / 2)];

/**
 * A distribution-free confidence interval for the median of `values` (independent rounds): the
 * k-th smallest and k-th largest value, for the largest k whose interval still covers the true
 * median with probability >= `confidence` (each value falls below the median with probability
 * 1/2, so the count below it is Binomial(n, 1/2)). Returns { low, high, coverage }, coverage
 * being the interval's exact probability. With too few values to reach `confidence` (fewer than
 * 6 for 0.95) it is the whole range, whose coverage, 1 - 2^(1-n), is then below `confidence`.
 */
export function medianInterval(values, confidence = 0.95) {
  if (values.length === 0) throw new Error('medianInterval needs at least one value');
  if (!(confidence > 0 && confidence < 1)) throw new Error(`confidence must lie between 0 and 1, not ${confidence}`);
  const sorted = [...values].sort((a, b) => a - b);
  const n = sorted.length;
  // tails[j]: P(Binomial(n, 1/2) <= j); the interval [x(k), x(n+1-k)] misses the median with 2 tails[k-1].
  const tails = [];
  let term = 2 ** -n;
  let sum = 0;
  for (let j = 0; j < n; j++) {
    sum += term;
    tails.push(sum);
    term = (term * (n - j)) / (j + 1);
  }
  let k = 1;
  while (k < Math.ceil(n / 2) && 1 - 2 * tails[k] >= confidence) k++;
  return { low: sorted[k - 1], high: sorted[n - k], coverage: Math.max(0, 1 - 2 * tails[k - 1]) };
}
