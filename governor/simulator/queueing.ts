/**
 * The queueing model of one instance: an M/M/c queue (Poisson arrivals at rate lambda, c
 * servers each completing mu requests/s). With c = 1 (the default) this is M/M/1, the natural
 * model of one event loop. Formulas (rho = lambda / (c mu) < 1, a = lambda / mu):
 *
 *   Erlang C   P(wait) = C(c, a) = [a^c / c! / (1 - rho)] / [sum_{k<c} a^k / k! + a^c / c! / (1 - rho)]
 *   tail       P(Wq > t) = C(c, a) e^{-(c mu - lambda) t}
 *   quantile   Wq_p = ln(C(c, a) / (1 - p)) / (c mu - lambda)   when C(c, a) > 1 - p, else 0
 *   mean       E[Wq] = C(c, a) / (c mu - lambda),   Lq = lambda E[Wq]
 *
 * For M/M/1, C = rho, so Wq_95 = ln(20 rho) / (mu - lambda) and E[Wq] = rho / (mu - lambda).
 */

/** Erlang C: the probability that an arriving request waits. 1 at or beyond saturation. */
export function erlangC(servers: number, offered: number): number {
  const rho = offered / servers;
  if (rho >= 1) return 1;
  if (offered <= 0) return 0;
  // sum_{k<c} a^k/k! computed by recurrence; term = a^k / k!
  let term = 1;
  let sum = 0;
  for (let k = 0; k < servers; k++) {
    sum += term;
    term = (term * offered) / (k + 1);
  }
  const top = term / (1 - rho);
  return top / (sum + top);
}

export interface StationaryWait {
  /** Utilization lambda / (c mu), in [0, 1). */
  rho: number;
  /** Probability of waiting at all. */
  pWait: number;
  /** Mean queueing time, seconds. */
  meanS: number;
  /** Queue length (requests waiting), mean. */
  queueLength: number;
  /** Queueing-time quantile, seconds. */
  quantileS(p: number): number;
}

/** The stationary waiting time of M/M/c; `lambda` must be below c mu (callers cap rho first). */
export function stationaryWait(lambda: number, mu: number, servers: number): StationaryWait {
  const capacity = servers * mu;
  if (!(lambda < capacity)) throw new RangeError(`M/M/c is unstable: lambda ${lambda} >= c mu ${capacity}`);
  const pWait = erlangC(servers, lambda / mu);
  const slack = capacity - lambda;
  return {
    rho: lambda / capacity,
    pWait,
    meanS: pWait / slack,
    queueLength: (lambda * pWait) / slack,
    quantileS: (p) => (pWait > 1 - p ? Math.log(pWait / (1 - p)) / slack : 0),
  };
}
