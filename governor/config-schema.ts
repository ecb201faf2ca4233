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

export const DEFAULT_TASK_MODULES: readonly string[] = [
  'signals',
  'fleet',
  'rules',
  'scale-up',
  'scale-down',
  'controlled-shutdown',
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
    }),
    proxy: section('The reverse proxy in front of the origin.', {
      host: text('Address the proxy binds to.', '127.0.0.1'),
      port: port('Port of the proxy'),
      origin: text('The origin website: an http:// or https:// URL.', 'http://127.0.0.1:8090'),
      maxInFlight: integer('Requests in flight to the origin at most (C).', 64, 1),
      maxQueue: integer('Requests waiting for admission at most (Q); beyond that, shed.', 256, 0),
      queueTimeoutMs: millis('A queued request waiting longer than this is shed', 5_000, 1),
      upstreamTimeoutMs: millis('The origin must answer within this', 30_000, 1),
      clientTimeoutMs: millis('A client must send its request within this', 60_000, 1),
      retryAfterSeconds: integer('Retry-After sent with a shed request (seconds).', 1, 0),
      maxTrackedClients: integer('Distinct client addresses tracked per interval at most.', 1000, 1),
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
      maxLaunchPerStep: integer('At most this many launches per decision.', 2, 1),
      scaleDownSpacingMs: millis('A leave waits this long after the last fleet change', 600_000),
      scaleUpSpacingMs: millis('A launch waits this long after the last fleet change', 120_000),
      launcherGraceMs: millis('Rank k launches only after the need persisted k x this without a fleet change', 30_000),
      warmupMs: millis('History the signals need before scaling intents may act', 300_000),
      dryRun: { type: 'boolean', description: 'Rules and actions run but never call the cloud.', default: false },
    }),
    shutdown: section('Phases of a controlled shutdown.', {
      notReadyMs: millis('How long the instance reports not-ready before draining', 5_000),
      drainTimeoutMs: millis('How long in-flight and queued requests may take to finish', 30_000),
      phaseTimeoutMs: millis('Timeout of every other phase', 10_000, 1),
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
