import type { BlackboardApi } from './blackboard-types.js';
import { LOCAL_SERIES } from './facts.js';

/**
 * Demand: the busy fraction an instance would show if it completed everything it received.
 *
 * Busy (event-loop utilization) tops out at 1: an instance that sheds or queues requests reports
 * 1 however far the offered load exceeds its capacity, so ceil(N x busy / target) can grow the
 * fleet by at most a factor of 1 / target per step. Demand scales busy by the requests received
 * over those completed, which gives the offered load in units of this instance's capacity as
 * long as a request costs the same whatever the load:
 *
 *   completed = received - shed - queue growth        (requests/s over the same interval)
 *   demand    = busy x received / completed, the factor bounded to [1/10, 10]
 *
 * It equals busy while nothing is shed and the admission queue holds steady; it exceeds busy (and
 * 1) while requests are shed or pile up in the queue, and falls below busy while a backlog drains
 * (the instance is busy with yesterday's requests). The bound keeps one broken instance from
 * asking for an unbounded fleet; the regional cap bounds the fleet anyway.
 */

/** received / completed is kept within [1 / DEMAND_MAX_FACTOR, DEMAND_MAX_FACTOR]. */
export const DEMAND_MAX_FACTOR = 10;

const nonNegative = (x: number): number => (x > 0 && Number.isFinite(x) ? x : 0);

/**
 * Demand from busy (0..1) and, over the same interval, the received, shed and queue-growth rates
 * (requests/s; queue growth is negative while the queue shrinks). Non-finite or negative received
 * and shed rates count as 0; without received requests it is busy.
 */
export function demandEstimate(busy: number, received: number, shed: number, queueGrowth = 0): number {
  const receivedRate = nonNegative(received);
  if (receivedRate === 0) return busy;
  const growth = Number.isFinite(queueGrowth) ? queueGrowth : 0;
  const completed = receivedRate - Math.min(nonNegative(shed), receivedRate) - growth;
  const factor = completed > 0 ? receivedRate / completed : DEMAND_MAX_FACTOR;
  return busy * Math.min(DEMAND_MAX_FACTOR, Math.max(1 / DEMAND_MAX_FACTOR, factor));
}

/**
 * This instance's demand over the last `seconds`, from the LOCAL_SERIES the signals task writes
 * every second: mean busy, mean received (`rps`) and shed (`shed`) rates, and the change of the
 * admission queue (`queue.depth`) between the sample before the window and the newest one.
 * 0 without busy samples in the window.
 */
export function demandOver(blackboard: BlackboardApi, seconds: number): number {
  const busy = blackboard.series(LOCAL_SERIES.busy).avg(seconds);
  if (busy === null) return 0;
  const received = blackboard.series(LOCAL_SERIES.rps).avg(seconds) ?? 0;
  const shed = blackboard.series(LOCAL_SERIES.shedPerSecond).avg(seconds) ?? 0;
  const depth = blackboard.series(LOCAL_SERIES.queueDepth).points(seconds + 1);
  const spanS = depth.length >= 2 ? (depth[depth.length - 1][0] - depth[0][0]) / 1000 : 0;
  const growth = spanS > 0 ? (depth[depth.length - 1][1] - depth[0][1]) / spanS : 0;
  return demandEstimate(busy, received, shed, growth);
}
