import { readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { MIN_SECRET_BYTES } from './admin-auth.js';
import { writeJsonAtomic } from './cloud/atomic-file.js';
import { RealClock } from './clock.js';
import { readInstanceIdentity } from './cloud/ec2-identity.js';
import { fetchUserData } from './cloud/instance-data.js';
import { parseConfig, parseConfigText, type ConfigInput, type ConfigProblem } from './config.js';
import type { GovernorConfig } from './config-types.js';
import { GovError, isGovError } from './errors.js';
import { packageRoot } from './package-info.js';

/**
 * First boot of a baked instance: its configuration is the image's defaults
 * (ami/image-config.json) overlaid with the instance's user data (JSON or YAML, any part of the
 * config; at least `fleet` and `proxy.origin`), validated with the config schema and written as
 * one complete JSON config file for `governor start --config`. User data may also carry
 * `adminSecret` (not a config key): it is written to its own owner-only file beside the config,
 * and `admin.secretFile` names that file.
 */

/** Where the image's defaults live, in the repository and in the bundle alike. */
export function imageDefaultsFile(): string {
  return join(packageRoot(), 'ami', 'image-config.json');
}

/** Keys user data must set: no image default can know them. */
export const REQUIRED_USER_DATA_KEYS = ['fleet', 'proxy.origin'] as const;
/** The user data key holding the admin secret (first boot only; never part of the config). */
export const ADMIN_SECRET_KEY = 'adminSecret';

const SOURCE = 'user data';

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** `top` over `base`: objects merge key by key, arrays and scalars replace. */
function overlay(base: Record<string, unknown>, top: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(top)) {
    const under = out[key];
    out[key] = isPlainObject(value) && isPlainObject(under) ? overlay(under, value) : value;
  }
  return out;
}

function has(data: Record<string, unknown>, key: string): boolean {
  let current: unknown = data;
  for (const part of key.split('.')) {
    if (!isPlainObject(current) || !Object.hasOwn(current, part)) return false;
    current = current[part];
  }
  return true;
}

function invalid(problems: ConfigProblem[]): GovError {
  const lines = problems.map((p) => `  - ${p.message}`).join('\n');
  const count = problems.length === 1 ? '1 problem' : `${problems.length} problems`;
  return new GovError('GOV_ERR_CONFIG_INVALID', `invalid ${SOURCE} (${count}):\n${lines}`, { problems });
}

/** Parses user data text (JSON when it starts with '{', else YAML); throws GOV_ERR_CONFIG_READ. */
export function parseUserData(text: string): Record<string, unknown> {
  const body = text.trim();
  if (body === '') {
    throw new GovError('GOV_ERR_CONFIG_READ', `${SOURCE} is empty: expected a JSON or YAML object with at least ${REQUIRED_USER_DATA_KEYS.join(' and ')}`);
  }
  const parsed = parseConfigText(body, SOURCE, body.startsWith('{') ? 'json' : 'yaml');
  if (!isPlainObject(parsed)) {
    const got = Array.isArray(parsed) ? 'a list' : `${typeof parsed} ${JSON.stringify(parsed).slice(0, 40)}`;
    throw new GovError('GOV_ERR_CONFIG_READ', `${SOURCE} must be a JSON or YAML object (config keys); got ${got}`);
  }
  return parsed;
}

export interface UserDataOptions {
  /** The instance's region: used when the user data names none. */
  region?: string;
  /** Where the admin secret will be written, when the user data carries one. */
  adminSecretFile?: string;
}

export interface FirstBootConfig {
  config: GovernorConfig;
  /** The user data's `adminSecret`, to be written to `config.admin.secretFile`. */
  adminSecret?: string;
}

function problem(key: string, value: unknown, complaint: string): ConfigProblem {
  return { source: SOURCE, key, value, message: `${SOURCE}: ${key} ${complaint}` };
}

/** The admin secret in `userData` (removed from it), with any problem it has. */
function takeAdminSecret(userData: Record<string, unknown>, opts: UserDataOptions, problems: ConfigProblem[]): string | undefined {
  if (!Object.hasOwn(userData, ADMIN_SECRET_KEY)) return undefined;
  const secret = userData[ADMIN_SECRET_KEY];
  delete userData[ADMIN_SECRET_KEY];
  if (typeof secret !== 'string' || Buffer.byteLength(secret.trim()) < MIN_SECRET_BYTES) {
    problems.push(problem(ADMIN_SECRET_KEY, '(hidden)', `must be a string of at least ${MIN_SECRET_BYTES} bytes (e.g. openssl rand -hex 32)`));
    return undefined;
  }
  if (has(userData, 'admin.secretFile')) problems.push(problem('admin.secretFile', '(set)', `and ${ADMIN_SECRET_KEY} are both set: keep one`));
  if (opts.adminSecretFile === undefined) problems.push(problem(ADMIN_SECRET_KEY, '(hidden)', 'is given but no file to write it to was'));
  else userData.admin = { ...(isPlainObject(userData.admin) ? userData.admin : {}), secretFile: opts.adminSecretFile };
  return secret.trim();
}

/**
 * The configuration of this instance: `imageDefaults` overlaid with the user data (and with
 * `opts.region` when the user data names none). Throws GOV_ERR_CONFIG_READ for unparsable
 * text, GOV_ERR_CONFIG_INVALID listing every problem (missing required keys, a bad admin secret
 * and schema violations together). Environment variables are not read.
 */
export function configFromUserData(text: string, imageDefaults: ConfigInput = {}, opts: UserDataOptions = {}): FirstBootConfig {
  const userData = { ...parseUserData(text) };
  const problems: ConfigProblem[] = REQUIRED_USER_DATA_KEYS.filter((key) => !has(userData, key)).map((key) =>
    problem(key, undefined, 'is missing: every instance of a fleet needs it (the image has no default)'),
  );
  const adminSecret = takeAdminSecret(userData, opts, problems);
  const fromInstance = opts.region !== undefined && !has(userData, 'region') ? { region: opts.region } : {};
  const merged = overlay(overlay(imageDefaults as Record<string, unknown>, fromInstance), userData);
  try {
    const config = parseConfig(merged, SOURCE, {});
    if (problems.length > 0) throw invalid(problems);
    return adminSecret === undefined ? { config } : { config, adminSecret };
  } catch (err) {
    if (!isGovError(err, 'GOV_ERR_CONFIG_INVALID') || problems.length === 0) throw err;
    const others = (err.details as { problems: ConfigProblem[] } | undefined)?.problems ?? [];
    throw invalid([...problems, ...others.filter((p) => !problems.some((m) => m.key === p.key))]);
  }
}

export interface FirstBootOptions {
  /** Where the config is written (atomically, complete, every default filled in). */
  out: string;
  /** Read user data from this file; without it, from the instance metadata service (IMDSv2). */
  userDataFile?: string;
  /** Instance metadata endpoint override (tests). */
  imdsEndpoint?: string;
  imdsTimeoutMs?: number;
  /** Default: imageDefaultsFile(). */
  defaultsFile?: string;
}

async function readImageDefaults(file: string): Promise<ConfigInput> {
  const text = await readFile(file, 'utf8').catch((err: Error) => {
    throw new GovError('GOV_ERR_CONFIG_READ', `cannot read the image defaults ${file}: ${err.message}`, { file }, { cause: err });
  });
  return parseConfigText(text, file, 'json') as ConfigInput;
}

/** The admin secret's file: beside the config. */
export function adminSecretFileFor(out: string): string {
  return join(dirname(out), 'admin.secret');
}

/**
 * Reads the user data, builds and validates the config, writes it to `out` (and the admin
 * secret, owner-only, beside it); returns it. Nothing is written when anything is invalid.
 */
export async function runFirstBoot(opts: FirstBootOptions): Promise<GovernorConfig> {
  const defaults = await readImageDefaults(opts.defaultsFile ?? imageDefaultsFile());
  const adminSecretFile = adminSecretFileFor(opts.out);
  let built: FirstBootConfig;
  if (opts.userDataFile !== undefined) {
    const file = opts.userDataFile;
    const text = await readFile(file, 'utf8').catch((err: Error) => {
      throw new GovError('GOV_ERR_CONFIG_READ', `cannot read user data file ${file}: ${err.message}`, { file }, { cause: err });
    });
    built = configFromUserData(text, defaults, { adminSecretFile });
  } else {
    const imds = { endpoint: opts.imdsEndpoint, timeoutMs: opts.imdsTimeoutMs ?? 2_000 };
    const userData = await fetchUserData(imds);
    const { region } = await readInstanceIdentity({ ...imds, clock: new RealClock() });
    built = configFromUserData(userData, defaults, { region, adminSecretFile });
  }
  if (built.adminSecret !== undefined) {
    // a fresh file each time: mode 0600 from its creation
    await rm(adminSecretFile, { force: true });
    await writeFile(adminSecretFile, `${built.adminSecret}\n`, { mode: 0o600, flag: 'wx' });
  }
  await writeJsonAtomic(opts.out, built.config);
  return built.config;
}
