import { GovError } from '../errors.js';
import type { Command, Endpoints, LaunchRequest, SignalSummary } from './port.js';

/**
 * Checks of what callers hand to a Cloud adapter, shared by every adapter so they accept and
 * refuse the same input. Every refusal is a GovError GOV_ERR_CLOUD_BAD_REQUEST naming the field,
 * the value and what was expected; a refused call changes nothing.
 */

function badRequest(field: string, value: unknown, expected: string): GovError {
  return new GovError('GOV_ERR_CLOUD_BAD_REQUEST', `${field} must be ${expected}; got ${JSON.stringify(value)}`, {
    field,
    value,
    expected,
  });
}

const SAFE_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** An instance or command id: it names a file of the local registry, so it can never hold a path. */
export function checkId(field: string, value: unknown): string {
  if (typeof value !== 'string' || !SAFE_ID.test(value)) {
    throw badRequest(field, value, 'an id of 1-64 letters, digits, "_", "." or "-" starting with a letter or digit');
  }
  return value;
}

/** A non-empty string of at most `maxLength` characters (fleet, region, slot...). */
export function checkText(field: string, value: unknown, maxLength: number): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > maxLength) {
    throw badRequest(field, value, `a non-empty string of at most ${maxLength} characters`);
  }
  return value;
}

function checkFiniteNumber(field: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw badRequest(field, value, 'a finite number');
  return value;
}

/** EC2's ClientToken rule: 1-64 printable ASCII characters without spaces. */
const LAUNCH_TOKEN = /^[\x21-\x7e]{1,64}$/;

export function checkLaunchRequest(req: LaunchRequest): LaunchRequest {
  if (typeof req.token !== 'string' || !LAUNCH_TOKEN.test(req.token)) {
    throw badRequest('token', req.token, '1-64 printable ASCII characters without spaces');
  }
  return {
    token: req.token,
    slot: checkText('slot', req.slot, 128),
    launchedBy: checkText('launchedBy', req.launchedBy, 64),
  };
}

const SUMMARY_NUMBERS = ['at', 'busyNow', 'busy1m', 'busy5m', 'busy15m', 'queueWaitP95Ms', 'queueWaitNowMs', 'queueDepth', 'rps', 'inFlight'] as const;
const SUMMARY_FLAGS = ['ready', 'windowsFilled'] as const;

/**
 * The summary as stored for peers: exactly the SignalSummary fields (anything else is dropped,
 * which bounds its size); a missing or non-finite number or a non-boolean flag is refused, and so
 * is an optional field (paused, controlSince, demandNow) of the wrong type.
 */
export function normalizeSummary(summary: SignalSummary): SignalSummary {
  const input = summary as unknown as Record<string, unknown>;
  if (typeof input !== 'object' || input === null) throw badRequest('summary', summary, 'an object');
  const out: Record<string, number | boolean> = {};
  for (const key of SUMMARY_NUMBERS) out[key] = checkFiniteNumber(`summary.${key}`, input[key]);
  for (const key of SUMMARY_FLAGS) {
    if (typeof input[key] !== 'boolean') throw badRequest(`summary.${key}`, input[key], 'true or false');
    out[key] = input[key];
  }
  // the optional Stop!/Go! state travels with the summary (governor/operator/control.ts)
  if (input.paused !== undefined) {
    if (typeof input.paused !== 'boolean') throw badRequest('summary.paused', input.paused, 'true or false when present');
    out.paused = input.paused;
  }
  if (input.controlSince !== undefined) out.controlSince = checkFiniteNumber('summary.controlSince', input.controlSince);
  if (input.demandNow !== undefined) out.demandNow = checkFiniteNumber('summary.demandNow', input.demandNow);
  return out as unknown as SignalSummary;
}

const MAX_URL_LENGTH = 512;

/** Endpoints as stored: only `proxy` and `admin`, each an http(s) URL when present. */
export function normalizeEndpoints(endpoints: Endpoints): Endpoints {
  const out: Endpoints = {};
  for (const key of ['proxy', 'admin'] as const) {
    const value = endpoints?.[key];
    if (value === undefined) continue;
    if (typeof value !== 'string' || value.length > MAX_URL_LENGTH || !URL.canParse(value) || !/^https?:$/.test(new URL(value).protocol)) {
      throw badRequest(`endpoints.${key}`, value, `an http(s) URL of at most ${MAX_URL_LENGTH} characters`);
    }
    out[key] = value;
  }
  return out;
}

export const COMMAND_KINDS: readonly Command['kind'][] = ['shutdown', 'pause', 'resume'];

/** Serialized commands are bounded (params included). */
export const MAX_COMMAND_BYTES = 4096;

/** A complete, well-formed operator command (unknown fields dropped). */
export function checkCommand(cmd: Command): Command {
  const input = cmd as unknown as Record<string, unknown>;
  if (typeof input !== 'object' || input === null) throw badRequest('command', cmd, 'an object');
  const kind = input.kind as Command['kind'];
  if (!COMMAND_KINDS.includes(kind)) throw badRequest('command.kind', kind, `one of ${COMMAND_KINDS.join(', ')}`);
  const issuedAt = checkFiniteNumber('command.issuedAt', input.issuedAt);
  const expiresAt = checkFiniteNumber('command.expiresAt', input.expiresAt);
  if (expiresAt <= issuedAt) throw badRequest('command.expiresAt', expiresAt, `later than issuedAt (${issuedAt})`);
  const params = input.params;
  if (params !== undefined && (typeof params !== 'object' || params === null || Array.isArray(params))) {
    throw badRequest('command.params', params, 'an object when present');
  }
  const out: Command = {
    id: checkId('command.id', input.id),
    target: checkId('command.target', input.target),
    fleet: checkText('command.fleet', input.fleet, 128),
    kind,
    issuedAt,
    expiresAt,
    ...(params === undefined ? {} : { params: params as Record<string, unknown> }),
  };
  const size = Buffer.byteLength(JSON.stringify(out));
  if (size > MAX_COMMAND_BYTES) throw badRequest('command', `${size} bytes`, `at most ${MAX_COMMAND_BYTES} bytes as JSON`);
  return out;
}
