import { join } from 'node:path';
import { packageRoot } from './package-info.js';

/**
 * The JSON Schema of GovernorConfig (./config-types.ts): the one place that holds every default
 * (DESIGN.md convention 7). Every object is closed (`additionalProperties: false`, except the
 * per-task override map, whose values are closed); every key has a `description`, and every key
 * the type does not mark optional has a `default`. Cross-field rules (min <= max, URLs) live in
 * ./config.ts.
 */

/** A JSON Schema node, as far as this schema uses the vocabulary. */
export interface SchemaNode {
  type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  description?: string;
  default?: unknown;
  properties?: Record<string, SchemaNode>;
  additionalProperties?: boolean | SchemaNode;
  items?: SchemaNode;
  uniqueItems?: boolean;
  enum?: readonly unknown[];
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
}

/** Largest delay a Node timer honours; longer ones fire after 1 ms. */
const MAX_TIMER_MS = 2_147_483_647;

/** Fleet and region names end up in tags and launch tokens. */
export const NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]*$';
/** A cron expression of 5 or 6 whitespace-separated fields (node-cron checks the fields). */
export const CRON_PATTERN = '^\\s*\\S+(\\s+\\S+){4,5}\\s*$';
/** A CloudWatch namespace: the characters CloudWatch accepts, not the reserved 'AWS/' prefix. */
export const METRICS_NAMESPACE_PATTERN = '^(?!AWS/)[A-Za-z0-9._/#: -]+$';
/** An http(s) URL with a host (for keys checked by the schema alone). */
export const HTTP_URL_PATTERN = '^https?://[^\\s/?#]+(/\\S*)?$';

export const DEFAULT_TASK_MODULES: readonly string[] = [
  'signals',
  'fleet',
  'rules',
  'scale-up',
  'scale-down',
  'controlled-shutdown',
  'commands',
  'publish-metrics',
  'restart-worker',
  'block-clients',
];

function section(description: string, properties: Record<string, SchemaNode>): SchemaNode {
  return { type: 'object', description, default: {}, additionalProperties: false, properties };
}

function integer(description: string, defaultValue: number | undefined, minimum: number, maximum?: number): SchemaNode {
  const node: SchemaNode = { type: 'integer', description, minimum };
  if (defaultValue !== undefined) node.default = defaultValue;
  if (maximum !== undefined) node.maximum = maximum;
  return node;
}

function millis(description: string, defaultValue: number | undefined, minimum = 0): SchemaNode {
  return integer(`${description} (milliseconds).`, defaultValue, minimum, MAX_TIMER_MS);
}

function text(description: string, defaultValue?: string): SchemaNode {
  const node: SchemaNode = { type: 'string', description, minLength: 1 };
  if (defaultValue !== undefined) node.default = defaultValue;
  return node;
}

function name(description: string, defaultValue: string): SchemaNode {
  return { type: 'string', description, default: defaultValue, minLength: 1, maxLength: 64, pattern: NAME_PATTERN };
}

function port(description: string): SchemaNode {
  return integer(`${description} (0 = any free port).`, 0, 0, 65535);
}

export const CONFIG_SCHEMA: SchemaNode = {
  type: 'object',
  description: 'Governor configuration (JSON or YAML).',
  additionalProperties: false,
  properties: {
    fleet: name('Fleet name: instances of one fleet in one region coordinate.', 'demo'),
    region: name('Region this instance belongs to; a region is scaled on its own.', 'local-1'),
    stateDir: text(
      "Where the local adapter keeps its registry and instances keep logs; relative to the config file's folder.",
      './.governor',
    ),
    rulesDir: text(
      "Folder of rule files (*.json); relative to the config file's folder. Default: the rules/ folder shipped with Governor.",
      join(packageRoot(), 'rules'),
    ),
    tasks: section('Which tasks run, and per-task overrides.', {
      modules: {
        type: 'array',
        description: "Task modules to load: a bare name is tasks/<name>; a path starting with '.' or '/' is an operator's module.",
        default: [...DEFAULT_TASK_MODULES],
        uniqueItems: true,
        items: text('A task module name or path.'),
      },
      extraDir: text("Operator folder whose *.js / *.mjs modules are loaded too; relative to the config file's folder."),
      overrides: {
        type: 'object',
        description: "Per-task overrides of the module's own schedule and timeout, keyed by task name.",
        default: {},
        additionalProperties: {
          type: 'object',
          description: 'Overrides for one task.',
          additionalProperties: false,
          properties: {
            schedule: {
              type: 'string',
              description: 'node-cron expression (6 fields with seconds, or 5 without).',
              pattern: CRON_PATTERN,
            },
            timeoutMs: millis('A run still going after this is aborted', undefined, 1),
          },
        },
      },
      stopDeadlineMs: millis('How long stop() waits for running tasks before giving up on them', 10_000),
    }),
    admin: section('The admin HTTP API (/healthz, /readyz, /state, /journal).', {
      host: text('Address the admin API binds to.', '127.0.0.1'),
      port: port('Port of the admin API'),
      secretFile: text(
        'File holding the shared secret that signs state-changing admin requests (mode 600); without it, GOVERNOR_ADMIN_SECRET.',
      ),
      maxSkewMs: millis('Signed admin requests with a timestamp further than this from now are rejected', 300_000, 1000),
    }),
    proxy: section('The reverse proxy in front of the origin.', {
      host: text('Address the proxy binds to.', '127.0.0.1'),
      port: port('Port of the proxy'),
      origin: text('The origin website: an http:// or https:// URL.', 'http://127.0.0.1:8090'),
      originCaFile: text("PEM file of the certificate authorities an https:// origin's certificate must chain to, in place of Node's bundled ones (an origin with a private CA)."),
      maxInFlight: integer('Requests in flight to the origin at most (C).', 64, 1),
      maxQueue: integer('Requests waiting for admission at most (Q); beyond that, shed.', 256, 0),
      queueTimeoutMs: millis('A queued request waiting longer than this is shed', 5_000, 1),
      upstreamTimeoutMs: millis('The origin must answer within this', 30_000, 1),
      clientTimeoutMs: millis('A client must send its request, and keep taking its response, within this', 60_000, 1),
      retryAfterSeconds: integer('Retry-After sent with a shed request (seconds).', 1, 0),
      maxTrackedClients: integer('Distinct client addresses tracked per interval at most.', 1000, 1),
      trustedProxies: {
        type: 'array',
        description:
          "Load balancers in front of the proxy (IP addresses or CIDR blocks): for a connection from one of them, the client is the right-most X-Forwarded-For address that is not one of them.",
        default: [],
        uniqueItems: true,
        items: text('An IP address or CIDR block, e.g. 10.0.0.0/8.'),
      },
      workers: integer('Proxy worker processes (node:cluster; the governor runs in the primary): 0 = one per core, 1 = in the governor\'s process.', 0, 0, 1024),
      cache: section('The RFC 9111 shared cache (one per worker).', {
        enabled: { type: 'boolean', description: 'Cache responses the origin allows a shared cache to store.', default: true },
        maxBytes: integer('Response bodies held at most (bytes, per worker); least recently used entries are evicted first.', 256 * 1024 * 1024, 0),
        maxEntryBytes: integer('A response body larger than this (bytes) is streamed through and not stored.', 8 * 1024 * 1024, 0),
      }),
      limits: section('Request limits: beyond them, a coded 4xx response and a counter.', {
        maxHeaderCount: integer('Request header fields at most (431 beyond).', 100, 1, 10_000),
        maxHeaderBytes: integer('Request line and headers at most, bytes (431 beyond).', 16 * 1024, 1024, 1024 * 1024),
        maxUrlLength: integer('Request target length at most, characters (414 beyond).', 8 * 1024, 16),
        maxBodyBytes: integer('Request body at most, bytes (413 beyond).', 10 * 1024 * 1024, 0),
        headersTimeoutMs: millis('Request headers must be complete within this (slowloris; 408 beyond)', 10_000, 1),
        maxBlockedClients: integer('Client addresses on the denylist at most (the one expiring first makes room).', 10_000, 1),
      }),
      deadlines: section('Time budgets besides upstreamTimeoutMs (the origin\'s silence) and clientTimeoutMs.', {
        totalMs: millis('From arrival to the origin\'s response head, queueing and retries included (504 beyond)', 60_000, 1),
        connectMs: millis('Connecting to the origin', 5_000, 1),
      }),
      retryBudget: section('Retries of idempotent requests that failed before any byte reached the origin.', {
        ratio: { type: 'number', description: 'Retries at most this fraction of requests over windowMs (0.2 = 20% extra load).', default: 0.2, minimum: 0, maximum: 1 },
        minPerSecond: integer('Retries allowed per second whatever the ratio (light traffic can still retry).', 10, 0),
        windowMs: millis('Window over which requests and retries are counted', 10_000, 1000),
        maxRetries: integer('Retries of one request at most.', 2, 0, 10),
      }),
      breaker: section('The circuit breaker in front of the origin.', {
        enabled: { type: 'boolean', description: 'Fail fast (or serve stale) while the origin keeps failing.', default: true },
        failures: integer('Consecutive failures (connection errors, timeouts, 502/503/504) that open the circuit.', 5, 1),
        cooldownMs: millis('Open time before one probe request; doubles after every failed probe', 5_000, 1),
        maxCooldownMs: millis('Longest open time between probes', 60_000, 1),
      }),
    }),
    cloud: section('The cloud adapter the fleet runs on.', {
      adapter: {
        type: 'string',
        description: "'local' runs a region on this machine; 'ec2' runs on AWS EC2.",
        default: 'local',
        enum: ['local', 'ec2'],
      },
      ec2: section('Settings of the ec2 adapter.', {
        endpoint: text('EC2 API endpoint override (an http(s) URL); default: the region\'s public endpoint.'),
        imdsEndpoint: text('Instance metadata service endpoint override (an http(s) URL).'),
        imdsTimeoutMs: millis('Timeout of one instance metadata call', 2_000, 1),
        targetGroupArn: {
          type: 'string',
          description: "A load balancer target group to join when the proxy is ready and leave at a controlled shutdown (the proxy's port is the target's).",
          pattern: '^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:\\d{12}:targetgroup/[A-Za-z0-9-]{1,32}/[0-9a-f]+$',
        },
        elbEndpoint: text('Elastic Load Balancing API endpoint override (an http(s) URL).'),
        deregistrationWaitMs: millis("How long leaving waits, at most, for the target group's deregistration delay", 300_000, 1_000),
      }),
    }),
    scaling: section('When and how far the fleet grows and shrinks.', {
      minInstances: integer('Never fewer members than this (and never the last one).', 1, 1),
      maxInstances: integer('Regional cap: never more members than this.', 8, 1),
      targetBusy: {
        type: 'number',
        description: 'Target busy fraction: desired = ceil(N x busy / target).',
        default: 0.5,
        exclusiveMinimum: 0,
        maximum: 1,
      },
      maxLaunchPerStep: integer('At most this many launches per decision.', 8, 1),
      scaleDownSpacingMs: millis('A leave waits this long after the last fleet change', 300_000),
      scaleUpSpacingMs: millis('A launch waits this long after the last fleet change', 30_000),
      launcherGraceMs: millis('Rank k launches only after the need persisted k x this without a fleet change', 30_000),
      bootTimeoutMs: millis('A member pending longer than this since its launch is stuck: no longer counted as a booting launch', 600_000, 1),
      warmupMs: millis('History the signals need before scaling intents may act', 300_000),
      dryRun: { type: 'boolean', description: 'Rules and actions run but never call the cloud.', default: false },
    }),
    shutdown: section('Phases of a controlled shutdown.', {
      notReadyMs: millis('How long the instance reports not-ready before draining', 5_000),
      drainTimeoutMs: millis('How long in-flight and queued requests may take to finish', 30_000),
      phaseTimeoutMs: millis('Timeout of every other phase', 10_000, 1),
    }),
    metrics: section('CloudWatch metrics published by the publish-metrics task (one batched PutMetricData a run).', {
      enabled: {
        type: 'boolean',
        description:
          "false: never publish. Unset: publish with the ec2 adapter, or with the local adapter only when metrics.endpoint is set. true: as unset.",
      },
      namespace: {
        type: 'string',
        description: "CloudWatch namespace (letters, digits and . _ - / # : space; not starting with 'AWS/').",
        default: 'Governor',
        minLength: 1,
        maxLength: 255,
        pattern: METRICS_NAMESPACE_PATTERN,
      },
      storageResolution: {
        type: 'integer',
        description: '60 = standard resolution, 1 = high resolution (1-second) storage.',
        default: 60,
        enum: [60, 1],
      },
      endpoint: {
        type: 'string',
        description: "CloudWatch API endpoint override (an http(s) URL); default: the region's public endpoint.",
        pattern: HTTP_URL_PATTERN,
      },
      timeoutMs: millis('Timeout of one PutMetricData call, retries included', 10_000, 1),
    }),
    log: section('Logging.', {
      level: {
        type: 'string',
        description: 'pino log level.',
        default: 'info',
        enum: ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'],
      },
    }),
  },
};
