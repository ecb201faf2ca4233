import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  CONFIG_SCHEMA,
  ENV_OVERRIDES,
  defaultConfig,
  deepFreeze,
  loadConfig,
  parseConfig,
  parseConfigText,
  type ConfigProblem,
} from '../../governor/config.js';
import type { SchemaNode } from '../../governor/config-schema.js';
import { GovError, isGovError, type ErrorCode } from '../../governor/errors.js';
import { packageRoot } from '../../governor/package-info.js';

const FIXTURES = resolve(dirname(fileURLToPath(import.meta.url)), '../fixtures/config');
const fixture = (name: string) => join(FIXTURES, name);

/** Runs `fn`, expecting a GovError with `code`; returns it. */
function govError(code: ErrorCode, fn: () => unknown): GovError {
  try {
    fn();
  } catch (err) {
    if (isGovError(err, code)) return err;
    throw new Error(`expected ${code}, got ${String(err)}`, { cause: err });
  }
  throw new Error(`expected ${code}, but nothing was thrown`);
}

function problemsOf(err: GovError): ConfigProblem[] {
  return (err.details as { problems: ConfigProblem[] }).problems;
}

describe('defaults', () => {
  it('are the documented values, with paths resolved against the working directory', () => {
    expect(defaultConfig()).toEqual({
      fleet: 'demo',
      region: 'local-1',
      stateDir: resolve('.governor'),
      rulesDir: join(packageRoot(), 'rules'),
      tasks: {
        modules: ['signals', 'fleet', 'rules', 'scale-up', 'scale-down', 'controlled-shutdown', 'commands', 'publish-metrics', 'restart-worker', 'block-clients'],
        overrides: {},
        stopDeadlineMs: 10000,
      },
      admin: { host: '127.0.0.1', port: 0, maxSkewMs: 300000 },
      proxy: {
        host: '127.0.0.1',
        port: 0,
        origin: 'http://127.0.0.1:8090',
        maxInFlight: 64,
        maxQueue: 256,
        queueTimeoutMs: 5000,
        upstreamTimeoutMs: 30000,
        clientTimeoutMs: 60000,
        retryAfterSeconds: 1,
        maxTrackedClients: 1000,
        trustedProxies: [],
        workers: 0,
        cache: { enabled: true, maxBytes: 268435456, maxEntryBytes: 8388608 },
        limits: { maxHeaderCount: 100, maxHeaderBytes: 16384, maxUrlLength: 8192, maxBodyBytes: 10485760, headersTimeoutMs: 10000, maxBlockedClients: 10000 },
        deadlines: { totalMs: 60000, connectMs: 5000 },
        retryBudget: { ratio: 0.2, minPerSecond: 10, windowMs: 10000, maxRetries: 2 },
        breaker: { enabled: true, failures: 5, cooldownMs: 5000, maxCooldownMs: 60000 },
      },
      cloud: { adapter: 'local', ec2: { imdsTimeoutMs: 2000, deregistrationWaitMs: 300000 } },
      metrics: { namespace: 'Governor', storageResolution: 60, timeoutMs: 10000 },
      scaling: {
        minInstances: 1,
        maxInstances: 8,
        targetBusy: 0.5,
        maxLaunchPerStep: 8,
        scaleDownSpacingMs: 300000,
        scaleUpSpacingMs: 30000,
        launcherGraceMs: 30000,
        bootTimeoutMs: 600000,
        warmupMs: 300000,
        dryRun: false,
      },
      shutdown: { notReadyMs: 5000, drainTimeoutMs: 30000, phaseTimeoutMs: 10000 },
      log: { level: 'info' },
    });
  });

  it('are what loadConfig gives with no file and no environment', () => {
    expect(loadConfig({ env: {} })).toEqual(defaultConfig());
    expect(loadConfig({ file: fixture('empty.yaml'), env: {} })).toEqual({
      ...defaultConfig(),
      stateDir: join(FIXTURES, '.governor'),
    });
  });

  it('rulesDir is the rules/ folder beside package.json', () => {
    expect(defaultConfig().rulesDir).toBe(join(packageRoot(), 'rules'));
    expect(packageRoot()).toBe(resolve(FIXTURES, '../../..'));
  });
});

describe('CONFIG_SCHEMA', () => {
  /** Keys the type marks optional: they have no default. */
  const OPTIONAL = new Set(['tasks.extraDir', 'cloud.ec2.endpoint', 'cloud.ec2.imdsEndpoint', 'cloud.ec2.targetGroupArn', 'cloud.ec2.elbEndpoint', 'admin.secretFile', 'proxy.originCaFile', 'metrics.enabled', 'metrics.endpoint']);

  function walk(node: SchemaNode, path: string, visit: (node: SchemaNode, path: string) => void): void {
    visit(node, path);
    for (const [key, child] of Object.entries(node.properties ?? {})) walk(child, path ? `${path}.${key}` : key, visit);
    if (typeof node.additionalProperties === 'object') walk(node.additionalProperties, `${path}.*`, visit);
  }

  it('describes every key, defaults every required key, and closes every object', () => {
    const seen: string[] = [];
    walk(CONFIG_SCHEMA, '', (node, path) => {
      seen.push(path);
      expect(node.description, path).toBeTruthy();
      const inOverride = path.includes('.*');
      if (path && !OPTIONAL.has(path) && !inOverride) expect(node.default, path).toBeDefined();
      if (node.type === 'object') expect(node.additionalProperties, path).not.toBe(true);
      if (node.type === 'object' && path !== 'tasks.overrides') expect(node.additionalProperties, path).toBe(false);
    });
    expect(seen).toContain('proxy.maxQueue');
    expect(seen).toContain('tasks.overrides.*.schedule');
  });

  it('is documented key by key, with each default, in the README', () => {
    const readme = readFileSync(join(packageRoot(), 'README.md'), 'utf8');
    const doc = readme.split(/^## Configuration$/m)[1].split(/^## /m)[0];
    const rows = new Map(doc.split('\n').filter((l) => l.startsWith('| `')).map((l) => [l.split('`')[1], l]));
    walk(CONFIG_SCHEMA, '', (node, path) => {
      const leaf = node.type !== 'object' || path === 'tasks.overrides';
      if (!path || path.includes('.*') || !leaf) return;
      expect(rows.has(path), path).toBe(true);
      if (['string', 'integer', 'number', 'boolean'].includes(node.type ?? '') && path !== 'rulesDir' && node.default !== undefined) {
        expect(rows.get(path), path).toContain(`\`${String(node.default)}\``);
      }
    });
    for (const variable of Object.keys(ENV_OVERRIDES)) expect(rows.has(variable), variable).toBe(true);
  });

  it('is frozen', () => {
    expect(Object.isFrozen(CONFIG_SCHEMA)).toBe(true);
    expect(Object.isFrozen(CONFIG_SCHEMA.properties?.proxy)).toBe(true);
  });
});

describe('malformed config files: every problem is reported at once', () => {
  const cases: { file: string; keys: string[]; mentions?: string[] }[] = [
    {
      file: 'bad-types.yaml',
      keys: ['fleet', 'admin.port', 'proxy.maxInFlight', 'scaling.dryRun'],
      mentions: ['admin.port = "eighty": expected an integer from 0 to 65535', 'scaling.dryRun = "yes": expected true or false'],
    },
    {
      file: 'unknown-keys.json',
      keys: ['proxy.maxQeue', 'scalling', 'maxInstances', 'log.format'],
      mentions: [
        'did you mean "proxy.maxQueue"?',
        'did you mean "scaling"?',
        'did you mean "scaling.maxInstances"?',
        'log.format = "pretty": unknown key; log takes: level',
      ],
    },
    {
      file: 'out-of-range.yaml',
      keys: ['admin.port', 'proxy.port', 'proxy.maxQueue', 'scaling.targetBusy', 'shutdown.phaseTimeoutMs'],
      mentions: ['proxy.port = -1: expected an integer from 0 to 65535', 'scaling.targetBusy = 1.5: expected a number > 0 and <= 1'],
    },
    {
      file: 'min-above-max.yaml',
      keys: ['scaling.minInstances', 'scaling.maxLaunchPerStep'],
      mentions: ['scaling.minInstances = 5: expected at most scaling.maxInstances (3, from'],
    },
    { file: 'zero-instances.json', keys: ['scaling.minInstances', 'scaling.maxInstances'] },
    {
      file: 'bad-urls.yaml',
      keys: ['proxy.origin', 'cloud.ec2.endpoint', 'cloud.ec2.imdsEndpoint', 'cloud.ec2.elbEndpoint'],
      mentions: ['proxy.origin = "ftp://origin.example/": expected an http:// or https:// URL'],
    },
    {
      file: 'ca-without-https.yaml',
      keys: ['proxy.originCaFile'],
      mentions: ['proxy.originCaFile = "certs/origin-ca.pem": applies to an https:// origin only; proxy.origin is "http://origin.example/"'],
    },
    {
      file: 'bad-target-group.yaml',
      keys: ['cloud.ec2.targetGroupArn', 'cloud.ec2.deregistrationWaitMs'],
      mentions: ['cloud.ec2.targetGroupArn = "edge-targets": expected'],
    },
    {
      file: 'bad-trusted-proxies.yaml',
      keys: ['proxy.trustedProxies[1]', 'proxy.trustedProxies[2]'],
      mentions: ['proxy.trustedProxies[1] = "load-balancer.internal": expected an IP address or a CIDR block such as 10.0.0.0/8'],
    },
    {
      file: 'bad-enums.yaml',
      keys: ['cloud.adapter', 'log.level'],
      mentions: ['cloud.adapter = "gcp": expected one of "local", "ec2"'],
    },
    {
      file: 'bad-tasks.yaml',
      keys: [
        'tasks.modules',
        'tasks.modules[2]',
        'tasks.overrides.fleet.schedule',
        'tasks.overrides.rules.timeoutMs',
        'tasks.overrides.rules.retries',
      ],
      mentions: ['expected a cron expression', 'without duplicates'],
    },
    {
      file: 'bad-sections.json',
      keys: ['proxy', 'scaling', 'log'],
      mentions: ['proxy = "fast": expected an object', 'log = null: expected an object'],
    },
    { file: 'bad-names.yaml', keys: ['fleet', 'region', 'stateDir', 'rulesDir'] },
    { file: 'top-level-list.yaml', keys: ['(top level)'], mentions: ['expected an object'] },
    {
      file: 'port-clash.yaml',
      keys: ['admin.port', 'scaling.warmupMs'],
      mentions: ['expected a port other than proxy.port (9000', 'scaling.warmupMs = 9999999999: expected an integer from 0 to 2147483647'],
    },
  ];

  it.each(cases)('$file', ({ file, keys, mentions = [] }) => {
    const path = fixture(file);
    const err = govError('GOV_ERR_CONFIG_INVALID', () => loadConfig({ file: path, env: {} }));
    const problems = problemsOf(err);
    expect(problems.map((p) => p.key).sort()).toEqual([...keys].sort());
    for (const p of problems) {
      expect(p.source).toBe(path);
      expect(err.message).toContain(`${path}: ${p.key} = `);
    }
    for (const text of mentions) expect(err.message).toContain(text);
    expect(err.message).toContain(`(${keys.length === 1 ? '1 problem' : `${keys.length} problems`})`);
  });
});

describe('read and syntax errors', () => {
  it('names a missing file', () => {
    const path = fixture('no-such-file.yaml');
    const err = govError('GOV_ERR_CONFIG_READ', () => loadConfig({ file: path, env: {} }));
    expect(err.message).toContain(path);
    expect(err.details).toEqual({ file: path });
  });

  it('refuses an unknown extension', () => {
    const err = govError('GOV_ERR_CONFIG_READ', () => loadConfig({ file: fixture('config.toml'), env: {} }));
    expect(err.message).toContain('unsupported extension ".toml": expected .json, .yaml or .yml');
  });

  it('gives the line and column of a JSON syntax error', () => {
    const path = fixture('syntax-error.json');
    const err = govError('GOV_ERR_CONFIG_READ', () => loadConfig({ file: path, env: {} }));
    expect(err.details).toMatchObject({ file: path, line: 4, column: 1 });
    expect(err.message).toContain(`${path}:4:1: invalid JSON`);
  });

  it('gives the line and column of a YAML syntax error', () => {
    const path = fixture('syntax-error.yaml');
    const err = govError('GOV_ERR_CONFIG_READ', () => loadConfig({ file: path, env: {} }));
    expect(err.details).toMatchObject({ file: path, line: 4 });
    expect(err.message).toMatch(new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:4:\\d+: invalid YAML`));
  });

  it('rejects duplicate YAML keys', () => {
    const err = govError('GOV_ERR_CONFIG_READ', () => loadConfig({ file: fixture('duplicate-key.yaml'), env: {} }));
    expect(err.message).toMatch(/:2:1: invalid YAML: Map keys must be unique$/);
  });

  it('reports the end of the text for truncated JSON', () => {
    const err = govError('GOV_ERR_CONFIG_READ', () => parseConfigText('{\n  "fleet": ', 'user-data', 'json'));
    expect(err.details).toEqual({ file: 'user-data', line: 2, column: 12 });
  });
});

describe('valid files', () => {
  it('merges a YAML file over the defaults and resolves relative paths against its folder', () => {
    const config = loadConfig({ file: fixture('valid.yaml'), env: {} });
    expect(config).toMatchObject({
      fleet: 'edge',
      region: 'eu-west-1',
      stateDir: join(FIXTURES, 'state'),
      rulesDir: resolve(FIXTURES, '../my-rules'),
      tasks: {
        modules: ['signals', 'fleet', join(FIXTURES, 'my-task.js')],
        extraDir: join(FIXTURES, 'extra-tasks'),
        overrides: { fleet: { schedule: '*/5 * * * * *', timeoutMs: 2000 } },
        stopDeadlineMs: 10000,
      },
      admin: { host: '127.0.0.1', port: 9100 },
      proxy: { port: 9200, origin: 'https://origin.example.com', maxQueue: 128, maxInFlight: 64 },
      scaling: { minInstances: 2, maxInstances: 4, dryRun: true, targetBusy: 0.5 },
      log: { level: 'warn' },
    });
  });

  it('loads JSON, keeping defaults beside the keys it sets', () => {
    const config = loadConfig({ file: fixture('valid.json'), env: {} });
    expect(config.proxy).toEqual({ ...defaultConfig().proxy, origin: 'http://127.0.0.1:9999', maxInFlight: 8 });
    expect(config.cloud).toEqual({ adapter: 'ec2', ec2: { endpoint: 'http://127.0.0.1:4566', imdsTimeoutMs: 500, deregistrationWaitMs: 300000 } });
    expect(config.stateDir).toBe(join(FIXTURES, '.governor'));
  });

  it('resolves relative paths against the working directory without a file', () => {
    const config = parseConfig({ stateDir: 'var/state', tasks: { extraDir: '../x' }, proxy: { origin: 'https://origin.example', originCaFile: 'ca.pem' } }, 'user-data', {});
    expect(config.stateDir).toBe(resolve(process.cwd(), 'var/state'));
    expect(config.tasks.extraDir).toBe(resolve(process.cwd(), '../x'));
    expect(config.proxy.originCaFile).toBe(resolve(process.cwd(), 'ca.pem'));
  });

  it('layers base under the file, and names base in its problems', () => {
    const config = loadConfig({
      file: fixture('valid.json'),
      env: {},
      base: { fleet: 'from-base', region: 'from-base', proxy: { maxQueue: 7 } },
    });
    expect(config.fleet).toBe('edge');
    expect(config.region).toBe('from-base');
    expect(config.proxy.maxQueue).toBe(7);
    const err = govError('GOV_ERR_CONFIG_INVALID', () => loadConfig({ env: {}, base: { proxy: { maxQueue: -1 } } }));
    expect(err.message).toContain('base config: proxy.maxQueue = -1');
  });
});

describe('environment overrides', () => {
  it('override the file, numbers parsed, paths resolved against the working directory', () => {
    const env = {
      GOVERNOR_FLEET: 'env-fleet',
      GOVERNOR_REGION: 'env-region',
      GOVERNOR_STATE_DIR: 'env-state',
      GOVERNOR_RULES_DIR: '/opt/rules',
      GOVERNOR_ADMIN_HOST: '127.0.0.2',
      GOVERNOR_ADMIN_PORT: '9300',
      GOVERNOR_PROXY_HOST: '127.0.0.3',
      GOVERNOR_PROXY_PORT: '9400',
      GOVERNOR_ORIGIN: 'http://127.0.0.1:7000',
      GOVERNOR_LOG_LEVEL: 'debug',
    };
    expect(Object.keys(env).sort()).toEqual(Object.keys(ENV_OVERRIDES).sort());
    const config = loadConfig({ file: fixture('valid.yaml'), env });
    expect(config).toMatchObject({
      fleet: 'env-fleet',
      region: 'env-region',
      stateDir: resolve(process.cwd(), 'env-state'),
      rulesDir: '/opt/rules',
      admin: { host: '127.0.0.2', port: 9300 },
      proxy: { host: '127.0.0.3', port: 9400, origin: 'http://127.0.0.1:7000', maxQueue: 128 },
      log: { level: 'debug' },
    });
  });

  it('ignores empty and unrelated variables', () => {
    const config = loadConfig({ env: { GOVERNOR_FLEET: '', GOVERNOR_INSTANCE_ID: 'i-1', PATH: '/bin' } });
    expect(config).toEqual(defaultConfig());
  });

  it('reports bad values naming the variable, together with the file problems', () => {
    const path = fixture('bad-enums.yaml');
    const env = { GOVERNOR_ADMIN_PORT: 'abc', GOVERNOR_PROXY_PORT: '65536', GOVERNOR_ORIGIN: 'file:///etc/passwd', GOVERNOR_FLEET: 'a b' };
    const err = govError('GOV_ERR_CONFIG_INVALID', () => loadConfig({ file: path, env }));
    expect(problemsOf(err).map((p) => p.source).sort()).toEqual(
      [
        path,
        path,
        'environment variable GOVERNOR_ADMIN_PORT',
        'environment variable GOVERNOR_FLEET',
        'environment variable GOVERNOR_ORIGIN',
        'environment variable GOVERNOR_PROXY_PORT',
      ].sort(),
    );
    expect(err.message).toContain('environment variable GOVERNOR_ADMIN_PORT: admin.port = "abc": expected an integer from 0 to 65535');
    expect(err.message).toContain('environment variable GOVERNOR_PROXY_PORT: proxy.port = 65536');
    expect(err.message).toContain('environment variable GOVERNOR_ORIGIN: proxy.origin = "file:///etc/passwd"');
  });

  it('a cross-field problem names where each side came from', () => {
    const err = govError('GOV_ERR_CONFIG_INVALID', () =>
      loadConfig({ env: { GOVERNOR_ADMIN_PORT: '9000', GOVERNOR_PROXY_PORT: '9000' } }),
    );
    expect(err.message).toContain(
      'environment variable GOVERNOR_ADMIN_PORT: admin.port = 9000: expected a port other than proxy.port (9000, from environment variable GOVERNOR_PROXY_PORT)',
    );
  });
});

describe('parseConfig', () => {
  it('validates parsed user data under its label and applies the environment', () => {
    const config = parseConfig({ fleet: 'ud' }, 'instance user data', { GOVERNOR_REGION: 'r2' });
    expect(config.fleet).toBe('ud');
    expect(config.region).toBe('r2');
    const err = govError('GOV_ERR_CONFIG_INVALID', () => parseConfig('fleet: x', 'instance user data', {}));
    expect(err.message).toContain('instance user data: (top level) = "fleet: x": expected an object');
  });

  it('accepts YAML and JSON text through parseConfigText', () => {
    expect(parseConfigText('fleet: a\n', 'ud', 'yaml')).toEqual({ fleet: 'a' });
    expect(parseConfigText('\uFEFF{"fleet":"a"}', 'ud', 'json')).toEqual({ fleet: 'a' });
  });
});

describe('freezing', () => {
  it('freezes the loaded config deeply', () => {
    const config = loadConfig({ file: fixture('valid.yaml'), env: {} });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.tasks.modules)).toBe(true);
    expect(Object.isFrozen(config.tasks.overrides.fleet)).toBe(true);
    expect(() => {
      (config.proxy as { port: number }).port = 1;
    }).toThrow(TypeError);
    expect(() => (config.tasks.modules as string[]).push('x')).toThrow(TypeError);
  });

  it('each load is independent of the last', () => {
    const first = loadConfig({ env: {} });
    const second = loadConfig({ env: {}, base: { tasks: { modules: ['signals'] } } });
    expect(first.tasks.modules).toHaveLength(10);
    expect(second.tasks.modules).toEqual(['signals']);
    expect(first.tasks.overrides).not.toBe(second.tasks.overrides);
  });

  it('deepFreeze handles nested arrays and returns its argument', () => {
    const value = { a: [{ b: 1 }], c: null };
    expect(deepFreeze(value)).toBe(value);
    expect(Object.isFrozen(value.a[0])).toBe(true);
  });
});
