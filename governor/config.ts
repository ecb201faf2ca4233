import { readFileSync } from 'node:fs';
import { dirname, extname, resolve } from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import { parseDocument } from 'yaml';
import { CONFIG_SCHEMA as SCHEMA, CRON_PATTERN, NAME_PATTERN, type SchemaNode } from './config-schema.js';
import type { GovernorConfig } from './config-types.js';
import { GovError } from './errors.js';
import { TrustedProxies } from '../proxy/trusted-proxies.js';

/**
 * Loading a GovernorConfig (DESIGN.md convention 7): layers are validated against one schema,
 * every problem is reported at once, the result is deeply frozen.
 *
 * Layers, lowest first: schema defaults, `base`, the config file, environment variables.
 * Objects merge key by key; arrays and scalars replace. Relative paths (stateDir, rulesDir,
 * tasks.extraDir, task modules starting with '.') resolve against the config file's folder
 * (the working directory when there is no file); paths from environment variables resolve
 * against the working directory.
 */

type DeepPartial<T> = T extends readonly unknown[] ? T : T extends object ? { [K in keyof T]?: DeepPartial<T[K]> } : T;

/** A partial config: what `base` may hold. */
export type ConfigInput = DeepPartial<GovernorConfig>;

export interface LoadConfigOptions {
  /** A .json, .yaml or .yml file; relative to the working directory. */
  file?: string;
  /** Default: process.env. Only the variables in ENV_OVERRIDES are read. */
  env?: NodeJS.ProcessEnv;
  /** Values under the file (above the schema defaults), validated like the file. */
  base?: ConfigInput;
}

/** One validation problem; `message` is the full line shown to the operator. */
export interface ConfigProblem {
  /** The file, 'environment variable NAME', or the caller's label. */
  source: string;
  /** Dotted path, e.g. proxy.maxQueue or tasks.modules[2]. */
  key: string;
  value: unknown;
  message: string;
}

type ValueKind = 'string' | 'integer' | 'path';

/** Environment variables that override one key each (what differs per host). */
export const ENV_OVERRIDES: Readonly<Record<string, { key: string; kind: ValueKind }>> = {
  GOVERNOR_FLEET: { key: 'fleet', kind: 'string' },
  GOVERNOR_REGION: { key: 'region', kind: 'string' },
  GOVERNOR_STATE_DIR: { key: 'stateDir', kind: 'path' },
  GOVERNOR_RULES_DIR: { key: 'rulesDir', kind: 'path' },
  GOVERNOR_ADMIN_HOST: { key: 'admin.host', kind: 'string' },
  GOVERNOR_ADMIN_PORT: { key: 'admin.port', kind: 'integer' },
  GOVERNOR_PROXY_HOST: { key: 'proxy.host', kind: 'string' },
  GOVERNOR_PROXY_PORT: { key: 'proxy.port', kind: 'integer' },
  GOVERNOR_ORIGIN: { key: 'proxy.origin', kind: 'string' },
  GOVERNOR_LOG_LEVEL: { key: 'log.level', kind: 'string' },
};

/** Recursively freezes `value` in place and returns it. */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

/** The JSON Schema of GovernorConfig, with every default (frozen). */
export const CONFIG_SCHEMA: SchemaNode = deepFreeze(SCHEMA);

const ajvOptions = { allErrors: true, verbose: true, strict: true } as const;
const validateLayer = new Ajv(ajvOptions).compile(CONFIG_SCHEMA);
const fillDefaults = new Ajv({ ...ajvOptions, useDefaults: true }).compile(CONFIG_SCHEMA);

/** Every default, with relative paths resolved against the working directory. */
export function defaultConfig(): GovernorConfig {
  return buildConfig([], process.cwd());
}

/** Reads, merges and validates the configuration; throws GOV_ERR_CONFIG_READ or GOV_ERR_CONFIG_INVALID. */
export function loadConfig(opts: LoadConfigOptions = {}): GovernorConfig {
  const layers: Layer[] = [];
  if (opts.base !== undefined) layers.push(fixedLayer('base config', opts.base));
  let baseDir = process.cwd();
  if (opts.file !== undefined) {
    const file = resolve(opts.file);
    layers.push(fixedLayer(file, readConfigFile(file)));
    baseDir = dirname(file);
  }
  layers.push(envLayer(opts.env ?? process.env));
  return buildConfig(layers, baseDir);
}

/**
 * Validates an already parsed config object (e.g. from instance user data) labelled `source`,
 * applies environment overrides (default process.env) and defaults. Relative paths resolve
 * against the working directory.
 */
export function parseConfig(raw: unknown, source: string, env: NodeJS.ProcessEnv = process.env): GovernorConfig {
  return buildConfig([fixedLayer(source, raw), envLayer(env)], process.cwd());
}

/** Parses config text as JSON or YAML; throws GOV_ERR_CONFIG_READ naming `source`, line and column. */
export function parseConfigText(text: string, source: string, format: 'json' | 'yaml'): unknown {
  const body = text.replace(/^\uFEFF/, '');
  if (format === 'json') {
    try {
      return JSON.parse(body);
    } catch (err) {
      const reason = (err as Error).message;
      const at = /at position (\d+)/.exec(reason);
      const { line, column } = lineAndColumn(body, at ? Number(at[1]) : body.length);
      throw new GovError('GOV_ERR_CONFIG_READ', `${source}:${line}:${column}: invalid JSON: ${reason}`, {
        file: source,
        line,
        column,
      });
    }
  }
  const doc = parseDocument(body, { uniqueKeys: true, prettyErrors: true });
  if (doc.errors.length > 0) {
    const first = doc.errors[0].linePos?.[0];
    const reasons = doc.errors.map((e) => e.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '')).join('; ');
    const where = first ? `:${first.line}:${first.col}` : '';
    throw new GovError('GOV_ERR_CONFIG_READ', `${source}${where}: invalid YAML: ${reasons}`, {
      file: source,
      line: first?.line,
      column: first?.col,
    });
  }
  return doc.toJS();
}

function readConfigFile(file: string): unknown {
  const ext = extname(file).toLowerCase();
  const format = ext === '.json' ? 'json' : ext === '.yaml' || ext === '.yml' ? 'yaml' : undefined;
  if (!format) {
    throw new GovError('GOV_ERR_CONFIG_READ', `${file}: unsupported extension "${ext}": expected .json, .yaml or .yml`, {
      file,
    });
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new GovError('GOV_ERR_CONFIG_READ', `cannot read config file ${file}: ${(err as Error).message}`, { file }, { cause: err });
  }
  return parseConfigText(text, file, format) ?? {};
}

function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset).split('\n');
  return { line: before.length, column: before[before.length - 1].length + 1 };
}

// ---------------------------------------------------------------------------------------------
// Layers and merging

interface Layer {
  data: unknown;
  /** Who set `key` in this layer, for problem messages. */
  label(key: string): string;
}

function fixedLayer(label: string, data: unknown): Layer {
  return { data, label: () => label };
}

function envLayer(env: NodeJS.ProcessEnv): Layer {
  const data: Record<string, unknown> = {};
  const variableOf = new Map<string, string>();
  for (const [variable, { key, kind }] of Object.entries(ENV_OVERRIDES)) {
    const raw = env[variable];
    if (raw === undefined || raw === '') continue;
    setPath(data, key, envValue(raw, kind));
    variableOf.set(key, variable);
  }
  return { data, label: (key) => `environment variable ${variableOf.get(key) ?? '?'}` };
}

/** Integers are converted when they look like one; anything else stays a string for the schema to reject. */
function envValue(raw: string, kind: ValueKind): unknown {
  if (kind === 'integer') return /^\s*[+-]?\d+\s*$/.test(raw) ? Number(raw) : raw;
  if (kind === 'path') return resolve(raw);
  return raw;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function merge(target: Record<string, unknown>, source: Record<string, unknown>): Record<string, unknown> {
  for (const [key, value] of Object.entries(source)) {
    const current = target[key];
    target[key] = isPlainObject(value) && isPlainObject(current) ? merge({ ...current }, value) : structuredClone(value);
  }
  return target;
}

function getPath(data: unknown, key: string): { found: boolean; value: unknown } {
  let current = data;
  for (const part of key.split('.')) {
    if (!isPlainObject(current) || !Object.hasOwn(current, part)) return { found: false, value: undefined };
    current = current[part];
  }
  return { found: true, value: current };
}

function setPath(data: Record<string, unknown>, key: string, value: unknown): void {
  const parts = key.split('.');
  let current = data;
  for (const part of parts.slice(0, -1)) {
    if (!isPlainObject(current[part])) current[part] = {};
    current = current[part] as Record<string, unknown>;
  }
  current[parts[parts.length - 1]] = value;
}

// ---------------------------------------------------------------------------------------------
// Building and checking

function schemaDefaults(): Record<string, unknown> {
  const defaults: Record<string, unknown> = {};
  fillDefaults(defaults);
  return defaults;
}

function buildConfig(layers: Layer[], baseDir: string): GovernorConfig {
  const problems = layers.flatMap(schemaProblems);
  const merged = schemaDefaults();
  for (const layer of layers) if (isPlainObject(layer.data)) merge(merged, layer.data);
  problems.push(...crossFieldProblems(merged, layers));
  if (problems.length > 0) {
    const lines = problems.map((p) => `  - ${p.message}`).join('\n');
    const count = problems.length === 1 ? '1 problem' : `${problems.length} problems`;
    throw new GovError('GOV_ERR_CONFIG_INVALID', `invalid configuration (${count}):\n${lines}`, { problems });
  }
  const config = merged as unknown as GovernorConfig;
  resolvePaths(config, baseDir);
  return deepFreeze(config);
}

function resolvePaths(config: GovernorConfig, baseDir: string): void {
  config.stateDir = resolve(baseDir, config.stateDir);
  config.rulesDir = resolve(baseDir, config.rulesDir);
  if (config.tasks.extraDir !== undefined) config.tasks.extraDir = resolve(baseDir, config.tasks.extraDir);
  if (config.admin.secretFile !== undefined) config.admin.secretFile = resolve(baseDir, config.admin.secretFile);
  if (config.proxy.originCaFile !== undefined) config.proxy.originCaFile = resolve(baseDir, config.proxy.originCaFile);
  config.tasks.modules = config.tasks.modules.map((m) => (m.startsWith('.') ? resolve(baseDir, m) : m));
}

function show(value: unknown): string {
  const text = value === undefined ? 'undefined' : JSON.stringify(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function problem(source: string, key: string, value: unknown, complaint: string): ConfigProblem {
  return { source, key, value, message: `${source}: ${key} = ${show(value)}: ${complaint}` };
}

function schemaProblems(layer: Layer): ConfigProblem[] {
  if (validateLayer(layer.data)) return [];
  const byKey = new Map<string, ConfigProblem>();
  for (const error of validateLayer.errors ?? []) {
    const found = describeSchemaError(layer, error);
    if (!byKey.has(found.key)) byKey.set(found.key, found);
  }
  return [...byKey.values()];
}

function describeSchemaError(layer: Layer, error: ErrorObject): ConfigProblem {
  const path = pointerToKey(error.instancePath, layer.data);
  if (error.keyword === 'additionalProperties') {
    const extra = (error.params as { additionalProperty: string }).additionalProperty;
    const key = path ? `${path}.${extra}` : extra;
    const allowed = Object.keys((error.parentSchema as SchemaNode).properties ?? {});
    const hint = suggestKey(extra, allowed, path);
    const complaint = `unknown key${hint ? ` (did you mean "${hint}"?)` : ''}; ${path || 'the top level'} takes: ${allowed.join(', ')}`;
    return problem(layer.label(key), key, (error.data as Record<string, unknown>)[extra], complaint);
  }
  const key = path || '(top level)';
  return problem(layer.label(key), key, error.data, `expected ${expectation(error.parentSchema as SchemaNode)}`);
}

/** '/tasks/modules/2' -> 'tasks.modules[2]' (array indexes decided by walking the data). */
function pointerToKey(pointer: string, data: unknown): string {
  let key = '';
  let current = data;
  for (const raw of pointer.split('/').slice(1)) {
    const part = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    key = Array.isArray(current) ? `${key}[${part}]` : key ? `${key}.${part}` : part;
    current = (current as Record<string, unknown> | undefined)?.[part];
  }
  return key;
}

const PATTERN_MEANINGS: Record<string, string> = {
  [NAME_PATTERN]: "a name of 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit",
  [CRON_PATTERN]: 'a cron expression of 6 fields (with seconds) or 5',
};

/** What a schema node accepts, in words. */
function expectation(node: SchemaNode): string {
  if (node.enum) return `one of ${node.enum.map((v) => JSON.stringify(v)).join(', ')}`;
  switch (node.type) {
    case 'object':
      return 'an object';
    case 'array':
      return `a list${node.uniqueItems ? ' without duplicates' : ''} whose items are each ${expectation(node.items ?? {})}`;
    case 'integer':
      return `an integer ${range(node)}`;
    case 'number':
      return `a number ${range(node)}`;
    case 'boolean':
      return 'true or false';
    case 'string':
      return node.pattern ? (PATTERN_MEANINGS[node.pattern] ?? `a string matching /${node.pattern}/`) : 'a non-empty string';
    default:
      return 'a valid value';
  }
}

function range(node: SchemaNode): string {
  const low = node.exclusiveMinimum !== undefined ? `> ${node.exclusiveMinimum}` : undefined;
  if (node.minimum !== undefined && node.maximum !== undefined) return `from ${node.minimum} to ${node.maximum}`;
  if (low && node.maximum !== undefined) return `${low} and <= ${node.maximum}`;
  if (node.minimum !== undefined) return `>= ${node.minimum}`;
  return low ?? '';
}

/** A sibling key within edit distance 2, or the full path of a same-named key elsewhere. */
function suggestKey(extra: string, siblings: string[], path: string): string | undefined {
  const lower = extra.toLowerCase();
  const near = siblings
    .map((s) => ({ s, d: editDistance(lower, s.toLowerCase()) }))
    .filter(({ s, d }) => d <= Math.min(2, Math.floor(s.length / 3)))
    .sort((a, b) => a.d - b.d)[0];
  if (near) return path ? `${path}.${near.s}` : near.s;
  return SCHEMA_KEYS.find((k) => k.split('.').pop()?.toLowerCase() === lower);
}

/** Every fixed key path of the schema (e.g. 'proxy.maxQueue'). */
const SCHEMA_KEYS: string[] = (function collect(node: SchemaNode, prefix: string): string[] {
  return Object.entries(node.properties ?? {}).flatMap(([k, child]) => {
    const key = prefix ? `${prefix}.${k}` : k;
    return [key, ...collect(child, key)];
  });
})(CONFIG_SCHEMA, '');

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = row;
  }
  return previous[b.length];
}

/** Rules across keys; each reads the merged config defensively (a key may have failed its schema). */
function crossFieldProblems(merged: Record<string, unknown>, layers: Layer[]): ConfigProblem[] {
  const sourceOf = (key: string): string => {
    for (const layer of [...layers].reverse()) if (getPath(layer.data, key).found) return layer.label(key);
    return 'defaults';
  };
  const value = (key: string) => getPath(merged, key).value;
  const found: ConfigProblem[] = [];

  const min = value('scaling.minInstances');
  const max = value('scaling.maxInstances');
  if (typeof min === 'number' && typeof max === 'number' && min > max) {
    const complaint = `expected at most scaling.maxInstances (${max}, from ${sourceOf('scaling.maxInstances')})`;
    found.push(problem(sourceOf('scaling.minInstances'), 'scaling.minInstances', min, complaint));
  }

  for (const key of ['proxy.origin', 'cloud.ec2.endpoint', 'cloud.ec2.imdsEndpoint', 'cloud.ec2.elbEndpoint']) {
    const url = value(key);
    if (typeof url === 'string' && url !== '' && !isHttpUrl(url)) {
      found.push(problem(sourceOf(key), key, url, 'expected an http:// or https:// URL with a host'));
    }
  }

  const originCaFile = value('proxy.originCaFile');
  const origin = value('proxy.origin');
  if (typeof originCaFile === 'string' && typeof origin === 'string' && !origin.startsWith('https://')) {
    const complaint = `applies to an https:// origin only; proxy.origin is ${JSON.stringify(origin)} (from ${sourceOf('proxy.origin')})`;
    found.push(problem(sourceOf('proxy.originCaFile'), 'proxy.originCaFile', originCaFile, complaint));
  }

  const trusted = value('proxy.trustedProxies');
  if (Array.isArray(trusted)) {
    for (const [index, entry] of trusted.entries()) {
      if (typeof entry !== 'string') continue; // the schema reports it
      try {
        new TrustedProxies([entry]);
      } catch {
        found.push(problem(sourceOf('proxy.trustedProxies'), `proxy.trustedProxies[${index}]`, entry, 'expected an IP address or a CIDR block such as 10.0.0.0/8 or fd00::/8'));
      }
    }
  }

  const adminPort = value('admin.port');
  if (typeof adminPort === 'number' && adminPort !== 0 && adminPort === value('proxy.port') && value('admin.host') === value('proxy.host')) {
    const complaint = `expected a port other than proxy.port (${adminPort}, from ${sourceOf('proxy.port')}) on the same host`;
    found.push(problem(sourceOf('admin.port'), 'admin.port', adminPort, complaint));
  }
  return found;
}

function isHttpUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '';
  } catch {
    return false;
  }
}
