/**
 * The shape of a governor's configuration. Defaults, the JSON Schema and validation live in
 * ./config.ts; a loaded config is deeply frozen.
 */
export interface GovernorConfig {
  /** Fleet name: instances of one fleet in one region coordinate. */
  fleet: string;
  region: string;
  /** Where the local adapter keeps its registry and instances keep logs. */
  stateDir: string;
  /** Folder of rule files (*.json). */
  rulesDir: string;
  tasks: {
    /** Task modules to load: a bare name is tasks/<name>; a path is an operator's module. */
    modules: string[];
    /** Operator folder whose *.js / *.mjs modules are loaded too. */
    extraDir?: string;
    /** Per-task overrides of the module's own schedule and timeout. */
    overrides: Record<string, { schedule?: string; timeoutMs?: number }>;
    /** How long stop() waits for running tasks before giving up on them. */
    stopDeadlineMs: number;
  };
  admin: { host: string; port: number };
  proxy: {
    host: string;
    /** 0 = any free port. */
    port: number;
    origin: string;
    /** Requests in flight to the origin at most (C). */
    maxInFlight: number;
    /** Requests waiting for admission at most (Q); beyond that, shed. */
    maxQueue: number;
    /** A queued request waiting longer than this is shed. */
    queueTimeoutMs: number;
    upstreamTimeoutMs: number;
    clientTimeoutMs: number;
    retryAfterSeconds: number;
    /** Distinct client addresses tracked per interval at most. */
    maxTrackedClients: number;
  };
  cloud: {
    adapter: 'local' | 'ec2';
    ec2: { endpoint?: string; imdsEndpoint?: string; imdsTimeoutMs: number };
  };
  scaling: {
    /** Never fewer members than this (and never the last one). */
    minInstances: number;
    /** Regional cap: never more members than this. */
    maxInstances: number;
    /** Target busy fraction: desired = ceil(N x busy / target). */
    targetBusy: number;
    /** At most this many launches per decision. */
    maxLaunchPerStep: number;
    /** A leave waits this long after the last fleet change. */
    scaleDownSpacingMs: number;
    /** A launch waits this long after the last fleet change (load spreads to new members first). */
    scaleUpSpacingMs: number;
    /** Rank k launches only after the need persisted k x this without a fleet change. */
    launcherGraceMs: number;
    /** History the signals need before scaling intents may act (restart safety). */
    warmupMs: number;
    /** Rules and actions run but never call the cloud. */
    dryRun: boolean;
  };
  shutdown: {
    notReadyMs: number;
    drainTimeoutMs: number;
    phaseTimeoutMs: number;
  };
  log: { level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent' };
}
