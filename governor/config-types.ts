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
  admin: {
    host: string;
    port: number;
    /** File holding the shared secret for signed admin requests (else GOVERNOR_ADMIN_SECRET). */
    secretFile?: string;
    /** Signed admin requests whose timestamp is further than this from now are rejected. */
    maxSkewMs: number;
  };
  proxy: {
    host: string;
    /** 0 = any free port. */
    port: number;
    origin: string;
    /** PEM file of the authorities an https origin's certificate must chain to, in place of Node's bundled ones. */
    originCaFile?: string;
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
    /** Load balancers (IP addresses, CIDR blocks) whose X-Forwarded-For names the client. */
    trustedProxies: string[];
    /** Proxy worker processes (node:cluster, the governor in the primary): 0 = one per core, 1 = in the governor's process. */
    workers: number;
    /** The RFC 9111 shared cache, one per worker. */
    cache: {
      enabled: boolean;
      /** Response bodies held at most, bytes; least recently used entries are evicted first. */
      maxBytes: number;
      /** A response body larger than this is streamed through and not stored. */
      maxEntryBytes: number;
    };
    /** Request limits: beyond them, a coded 4xx and a counter. */
    limits: {
      maxHeaderCount: number;
      /** Request line and headers, bytes. */
      maxHeaderBytes: number;
      maxUrlLength: number;
      /** Request body, bytes. */
      maxBodyBytes: number;
      /** Request headers must be complete within this (slowloris); the whole request within clientTimeoutMs. */
      headersTimeoutMs: number;
      /** Client addresses on the denylist at most. */
      maxBlockedClients: number;
    };
    /** Time budgets besides upstreamTimeoutMs (the origin's silence) and clientTimeoutMs. */
    deadlines: {
      /** From a request's arrival to the origin's response head, queueing and retries included (504 beyond). */
      totalMs: number;
      /** Connecting to the origin (a connection that takes longer counts as a failure before any byte was sent). */
      connectMs: number;
    };
    /** Retries of idempotent requests that failed before any byte reached the origin. */
    retryBudget: {
      /** Retries at most this fraction of requests over windowMs (0.2 = 20% extra load). */
      ratio: number;
      /** Retries allowed per second whatever the ratio, so that light traffic can retry. */
      minPerSecond: number;
      windowMs: number;
      /** Retries of one request at most. */
      maxRetries: number;
    };
    /** The circuit breaker in front of the origin. */
    breaker: {
      enabled: boolean;
      /** Consecutive failures (connection errors, timeouts, 502/503/504) that open the circuit. */
      failures: number;
      /** Open time before one probe request; doubles after every failed probe, up to maxCooldownMs. */
      cooldownMs: number;
      maxCooldownMs: number;
    };
  };
  cloud: {
    adapter: 'local' | 'ec2';
    ec2: {
      endpoint?: string;
      imdsEndpoint?: string;
      imdsTimeoutMs: number;
      /** Target group joined when ready and left at a controlled shutdown. */
      targetGroupArn?: string;
      elbEndpoint?: string;
      /** How long leaving waits, at most, for the target group's deregistration delay. */
      deregistrationWaitMs: number;
    };
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
    /** A member pending longer than this since its launch is stuck: no longer counted as a booting launch. */
    bootTimeoutMs: number;
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
  /** CloudWatch metrics, published by the publish-metrics task (one batched PutMetricData a run). */
  metrics: {
    /**
     * false: never publish. Unset: publish with the ec2 adapter, or with the local adapter only
     * when `endpoint` is set. true: as unset (the local adapter still needs an endpoint).
     */
    enabled?: boolean;
    namespace: string;
    /** 60 = standard resolution, 1 = high resolution (1-second) storage. */
    storageResolution: 60 | 1;
    /** CloudWatch API endpoint override (an http(s) URL); default: the region's public endpoint. */
    endpoint?: string;
    /** Timeout of one PutMetricData call, retries included. */
    timeoutMs: number;
  };
}
