/**
 * The Cloud port (DESIGN.md convention 3): the narrow interface between the governor and
 * whatever runs its instances. Adapters: ./local.ts (the embedded default, also the fake that
 * tests use) and ./ec2.ts. Only action tasks and the fleet task call it. Every method may
 * reject with a GovError (code GOV_ERR_CLOUD_*); callers journal the failure and go on.
 */

export type InstanceState = 'pending' | 'running' | 'leaving' | 'terminated';

/** What an instance publishes about its own load, read by its peers from `listFleet`. */
export interface SignalSummary {
  /** clock.now() of the governor that published it. */
  at: number;
  /** Busy over the last 10 s: what the fleet's series and the rules' windows are built from. */
  busyNow: number;
  /**
   * Demand over the last 10 s: busyNow x received / served requests, bounded (governor/demand.ts).
   * Equals busyNow while nothing is shed; above it (even above 1) when the instance sheds load.
   * Optional: summaries of older governors lack it and peers use busyNow instead.
   */
  demandNow?: number;
  busy1m: number;
  busy5m: number;
  busy15m: number;
  queueWaitP95Ms: number;
  /** Queueing p95 over the last 10 s. */
  queueWaitNowMs: number;
  queueDepth: number;
  rps: number;
  inFlight: number;
  ready: boolean;
  /** The publisher's windows are full (restart safety): its numbers can be trusted. */
  windowsFilled: boolean;
  /** The publisher's region-wide Stop! state (`control.paused`), when it has one (#7). */
  paused?: boolean;
  /** When the operator decided that state (`control.since`); the newest decision in the region wins. */
  controlSince?: number;
}

export interface Endpoints {
  /** Base URL clients (or a load balancer) send traffic to, e.g. http://127.0.0.1:8081 */
  proxy?: string;
  /** Base URL of the admin API. */
  admin?: string;
}

export interface InstanceInfo {
  id: string;
  fleet: string;
  region: string;
  state: InstanceState;
  /** Milliseconds since the epoch, as the cloud recorded it. */
  launchTime: number;
  /** When it became terminated (history only). */
  endTime?: number;
  /** Instance id of the launcher, or 'operator' for the first one. */
  launchedBy?: string;
  /** The launch slot this instance filled (see coordination). */
  launchSlot?: string;
  summary?: SignalSummary;
  endpoints?: Endpoints;
}

export interface Identity {
  id: string;
  fleet: string;
  region: string;
}

export interface LaunchRequest {
  /** Idempotency token: derived from fleet, region and slot; at most 64 characters. */
  token: string;
  slot: string;
  launchedBy: string;
}

export interface LaunchResult {
  id: string;
  /** false when the token was already used: a peer launched this slot; no new instance. */
  created: boolean;
}

/** An operator's command addressed to one instance (#7), read through the cloud. */
export interface Command {
  id: string;
  target: string;
  fleet: string;
  kind: 'shutdown' | 'pause' | 'resume';
  issuedAt: number;
  expiresAt: number;
  params?: Record<string, unknown>;
}

export interface Cloud {
  /** Who this instance is. Stable for the life of the process. */
  identity(): Promise<Identity>;
  /**
   * One call: every member of my fleet in my region whose state is pending, running or leaving,
   * with its launch time and last published summary. Order is unspecified (rank with
   * coordination's `rankFleet`).
   */
  listFleet(): Promise<InstanceInfo[]>;
  /** Launches one copy of this instance for `req.slot`; a reused token launches nothing. */
  launch(req: LaunchRequest): Promise<LaunchResult>;
  /** This instance serves: state running, endpoints recorded for peers and load balancers. */
  markRunning(endpoints: Endpoints): Promise<void>;
  /** This instance has begun a controlled shutdown; peers see state leaving. */
  markLeaving(): Promise<void>;
  /** Ends this instance (only ever itself). The process may exit as a consequence. */
  terminateSelf(): Promise<void>;
  /** Publishes this instance's signal summary (bounded in size; adapters may rate-limit). */
  publishSummary(summary: SignalSummary): Promise<void>;
  /** Unexpired commands addressed to this instance, oldest first. */
  readCommands(): Promise<Command[]>;
  /** Acknowledges (and removes) a command after acting on it. */
  ackCommand(id: string, outcome: string): Promise<void>;
}
