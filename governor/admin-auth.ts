import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import { DEFAULT_ADMIN_LIMITS, readBody, sendError, type AdminRoute } from './admin.js';
import type { BlackboardApi } from './blackboard-types.js';
import { RealClock, type Clock } from './clock.js';
import { GovError, isGovError, type ErrorCode } from './errors.js';

/**
 * Signed admin requests: HMAC-SHA256 under a shared secret over the canonical string
 *
 *     METHOD \n TARGET \n hex(sha256(body)) \n TIMESTAMP \n NONCE
 *
 * METHOD is upper case; TARGET is the request target exactly as sent (path and query string);
 * TIMESTAMP is milliseconds since the epoch as a decimal integer; NONCE is 16 to 128 characters
 * of [A-Za-z0-9_-], never reused. The signature is the lowercase hex HMAC, sent with the
 * timestamp and nonce in the SIGNATURE_HEADERS.
 *
 * A request is accepted only when all three headers are well formed, the timestamp is within
 * maxSkewMs of the server's clock either way, the body is within maxBodyBytes, the signature
 * matches (compared in constant time), and the nonce was not accepted before. Statuses:
 *
 * | status | code                          | when                                             |
 * | 400    | GOV_ERR_ADMIN_BAD_REQUEST      | a signature header is malformed or repeated      |
 * | 401    | GOV_ERR_ADMIN_UNSIGNED         | no signature headers at all                      |
 * | 401    | GOV_ERR_ADMIN_EXPIRED          | timestamp older than now - maxSkewMs             |
 * | 401    | GOV_ERR_ADMIN_FUTURE_DATED     | timestamp later than now + maxSkewMs             |
 * | 401    | GOV_ERR_ADMIN_BAD_SIGNATURE    | the HMAC does not match                          |
 * | 403    | GOV_ERR_ADMIN_NO_SECRET        | this instance has no secret: nothing is accepted |
 * | 409    | GOV_ERR_ADMIN_REPLAY           | the nonce was already accepted                   |
 * | 413    | GOV_ERR_ADMIN_BODY_TOO_LARGE   | the body exceeds maxBodyBytes                    |
 * | 503    | GOV_ERR_ADMIN_NONCE_STORE_FULL | too many accepted requests in one skew window    |
 *
 * Expired and future-dated requests are 401 (not 408, which means the server timed out waiting):
 * the client must sign again with a fresh timestamp. A rejected request never reaches the route.
 */

export const SIGNATURE_HEADERS = {
  timestamp: 'x-governor-timestamp',
  nonce: 'x-governor-nonce',
  signature: 'x-governor-signature',
} as const;

/** The environment variable holding the admin secret when no admin.secretFile is configured. */
export const ADMIN_SECRET_ENV = 'GOVERNOR_ADMIN_SECRET';
export const DEFAULT_MAX_SKEW_MS = 300_000;
/** Accepted nonces held at most at once (see NonceStore). */
export const DEFAULT_MAX_NONCES = 10_000;
/** A shorter secret is refused: it could be guessed. */
export const MIN_SECRET_BYTES = 16;

const NONCE_PATTERN = /^[A-Za-z0-9_-]{16,128}$/;
const TIMESTAMP_PATTERN = /^\d{1,16}$/;
const SIGNATURE_PATTERN = /^[0-9a-f]{64}$/;

/** HTTP status of each rejection a signed route answers itself. */
const REJECTION_STATUS = {
  GOV_ERR_ADMIN_BAD_REQUEST: 400,
  GOV_ERR_ADMIN_UNSIGNED: 401,
  GOV_ERR_ADMIN_EXPIRED: 401,
  GOV_ERR_ADMIN_FUTURE_DATED: 401,
  GOV_ERR_ADMIN_BAD_SIGNATURE: 401,
  GOV_ERR_ADMIN_NO_SECRET: 403,
  GOV_ERR_ADMIN_REPLAY: 409,
  GOV_ERR_ADMIN_BODY_TOO_LARGE: 413,
  GOV_ERR_ADMIN_NONCE_STORE_FULL: 503,
} as const satisfies Partial<Record<ErrorCode, number>>;

type RejectionCode = keyof typeof REJECTION_STATUS;

/** The blackboard key counting rejected signed requests: Record<code, number>. */
export const ADMIN_REJECTED_KEY = 'admin.rejected';

export interface SignRequestInput {
  secret: Buffer | string;
  method: string;
  /** The request target exactly as it will be sent: path and query string. */
  path: string;
  body?: Buffer | string;
  /** Default: the signing client's wall clock (RealClock). */
  timestamp?: number;
  /** Default: 32 random hex characters. */
  nonce?: string;
}

/** The canonical string both sides sign. */
export function canonicalString(method: string, path: string, body: Buffer | string, timestamp: number, nonce: string): string {
  const bodyDigest = createHash('sha256').update(body).digest('hex');
  return `${method.toUpperCase()}\n${path}\n${bodyDigest}\n${timestamp}\n${nonce}`;
}

function hmacHex(secret: Buffer | string, text: string): string {
  return createHmac('sha256', secret).update(text).digest('hex');
}

/** The headers that sign one request (client side: the CLI and scripts). */
export function signRequest(input: SignRequestInput): Record<string, string> {
  const timestamp = input.timestamp ?? new RealClock().now();
  const nonce = input.nonce ?? randomBytes(16).toString('hex');
  if (!Number.isSafeInteger(timestamp) || timestamp < 0) {
    throw new RangeError(`timestamp must be a non-negative integer of milliseconds, got ${String(timestamp)}`);
  }
  if (!NONCE_PATTERN.test(nonce)) throw new RangeError(`nonce must match ${NONCE_PATTERN}, got ${JSON.stringify(nonce)}`);
  const canonical = canonicalString(input.method, input.path, input.body ?? '', timestamp, nonce);
  return {
    [SIGNATURE_HEADERS.timestamp]: String(timestamp),
    [SIGNATURE_HEADERS.nonce]: nonce,
    [SIGNATURE_HEADERS.signature]: hmacHex(input.secret, canonical),
  };
}

/**
 * Accepted nonces, each held until its timestamp falls out of the skew window (a request that
 * old is rejected by its timestamp anyway), so memory stays bounded by the request rate. At most
 * `maxEntries` are held: beyond that `claim` refuses rather than forget a nonce still in the window.
 */
export class NonceStore {
  /** nonce -> the last time it could still pass the timestamp check (timestamp + maxSkewMs). */
  private readonly expiries = new Map<string, number>();
  private nextExpiry = Infinity;

  constructor(
    readonly maxSkewMs: number = DEFAULT_MAX_SKEW_MS,
    readonly maxEntries: number = DEFAULT_MAX_NONCES,
  ) {
    if (!Number.isInteger(maxSkewMs) || maxSkewMs < 1) throw new RangeError(`maxSkewMs must be a positive integer, got ${maxSkewMs}`);
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new RangeError(`maxEntries must be a positive integer, got ${maxEntries}`);
  }

  get size(): number {
    return this.expiries.size;
  }

  /**
   * Records `nonce` (signed with `timestamp`) as used at `now`. Returns 'replay' when it is held
   * already, 'full' when the store holds maxEntries unexpired nonces, 'ok' otherwise.
   */
  claim(nonce: string, timestamp: number, now: number): 'ok' | 'replay' | 'full' {
    this.evictExpired(now);
    if (this.expiries.has(nonce)) return 'replay';
    if (this.expiries.size >= this.maxEntries) return 'full';
    const expiry = timestamp + this.maxSkewMs;
    this.expiries.set(nonce, expiry);
    this.nextExpiry = Math.min(this.nextExpiry, expiry);
    return 'ok';
  }

  private evictExpired(now: number): void {
    if (now <= this.nextExpiry) return;
    this.nextExpiry = Infinity;
    for (const [nonce, expiry] of this.expiries) {
      if (expiry < now) this.expiries.delete(nonce);
      else this.nextExpiry = Math.min(this.nextExpiry, expiry);
    }
  }
}

interface SignatureHeaders {
  timestamp: number;
  nonce: string;
  signature: string;
}

function reject(code: RejectionCode, message: string): GovError {
  return new GovError(code, message);
}

/** Reads the three signature headers; throws GOV_ERR_ADMIN_UNSIGNED when none is present, 400 when any is malformed. */
export function parseSignatureHeaders(headers: IncomingHttpHeaders): SignatureHeaders {
  const names = Object.values(SIGNATURE_HEADERS);
  if (names.every((name) => headers[name] === undefined)) {
    throw reject('GOV_ERR_ADMIN_UNSIGNED', `this request changes state and must be signed (${names.join(', ')})`);
  }
  const read = (name: string, pattern: RegExp, expected: string): string => {
    const value = headers[name];
    if (typeof value !== 'string' || !pattern.test(value)) {
      const shown = value === undefined ? 'missing' : JSON.stringify(value).slice(0, 80);
      throw reject('GOV_ERR_ADMIN_BAD_REQUEST', `header ${name} is ${shown}: expected ${expected}`);
    }
    return value;
  };
  return {
    timestamp: Number(read(SIGNATURE_HEADERS.timestamp, TIMESTAMP_PATTERN, 'milliseconds since the epoch as an integer')),
    nonce: read(SIGNATURE_HEADERS.nonce, NONCE_PATTERN, '16 to 128 characters of A-Z a-z 0-9 _ -'),
    signature: read(SIGNATURE_HEADERS.signature, SIGNATURE_PATTERN, '64 lowercase hex digits (HMAC-SHA256)'),
  };
}

/** Throws GOV_ERR_ADMIN_EXPIRED / GOV_ERR_ADMIN_FUTURE_DATED when `timestamp` is further than maxSkewMs from `now`. */
export function checkTimestamp(timestamp: number, now: number, maxSkewMs: number): void {
  if (timestamp < now - maxSkewMs) {
    throw reject('GOV_ERR_ADMIN_EXPIRED', `request signed ${Math.round((now - timestamp) / 1000)} s ago; at most ${maxSkewMs / 1000} s accepted`);
  }
  if (timestamp > now + maxSkewMs) {
    throw reject(
      'GOV_ERR_ADMIN_FUTURE_DATED',
      `request signed ${Math.round((timestamp - now) / 1000)} s in the future; at most ${maxSkewMs / 1000} s of clock skew accepted`,
    );
  }
}

export interface VerifyInput {
  secret: Buffer;
  method: string;
  /** The request target as received (req.url). */
  path: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
  now: number;
  maxSkewMs: number;
  nonceStore: NonceStore;
}

/**
 * Verifies a complete signed request and, when it is good, claims its nonce. Throws a GovError
 * with one of the rejection codes above; never claims the nonce of a rejected request.
 */
export function verifySignedRequest(input: VerifyInput): void {
  const { timestamp, nonce, signature } = parseSignatureHeaders(input.headers);
  checkTimestamp(timestamp, input.now, input.maxSkewMs);
  const expected = Buffer.from(hmacHex(input.secret, canonicalString(input.method, input.path, input.body, timestamp, nonce)), 'hex');
  if (!timingSafeEqual(expected, Buffer.from(signature, 'hex'))) {
    throw reject('GOV_ERR_ADMIN_BAD_SIGNATURE', 'signature does not match this request under the admin secret');
  }
  const claimed = input.nonceStore.claim(nonce, timestamp, input.now);
  if (claimed === 'replay') throw reject('GOV_ERR_ADMIN_REPLAY', `nonce ${nonce} was already used: sign every request with a new nonce`);
  if (claimed === 'full') {
    throw reject('GOV_ERR_ADMIN_NONCE_STORE_FULL', `more than ${input.nonceStore.maxEntries} signed requests within ${input.maxSkewMs / 1000} s`);
  }
}

/** A state-changing route: its handler runs only for a verified request and gets the body already read. */
export interface SignedAdminRoute {
  method: string;
  path: string;
  handler(req: IncomingMessage, res: ServerResponse, url: URL, body: Buffer): void | Promise<void>;
}

export interface SignedRouteOptions {
  /** The shared secret; undefined refuses every request with 403 (fail closed). */
  secret: Buffer | undefined;
  clock: Clock;
  /** Default DEFAULT_MAX_SKEW_MS. */
  maxSkewMs?: number;
  /** Share one store among all signed routes of a server, so a nonce is good for one route once. */
  nonceStore: NonceStore;
  /** Default: the admin server's default (64 KiB). */
  maxBodyBytes?: number;
  /** When given, rejections are counted under ADMIN_REJECTED_KEY. */
  blackboard?: BlackboardApi;
  /** When given, every rejection is logged at warn. */
  log?: Logger;
}

function countRejection(blackboard: BlackboardApi | undefined, code: RejectionCode): void {
  if (!blackboard) return;
  const counts = blackboard.get<Record<string, number>>(ADMIN_REJECTED_KEY) ?? {};
  blackboard.set(ADMIN_REJECTED_KEY, { ...counts, [code]: (counts[code] ?? 0) + 1 });
}

/** Wraps a state-changing route so that it runs only for a correctly signed, fresh, unreplayed request. */
export function signedRoute(route: SignedAdminRoute, opts: SignedRouteOptions): AdminRoute {
  const maxSkewMs = opts.maxSkewMs ?? DEFAULT_MAX_SKEW_MS;
  const maxBodyBytes = opts.maxBodyBytes ?? DEFAULT_ADMIN_LIMITS.maxBodyBytes;
  if (opts.nonceStore.maxSkewMs < maxSkewMs) {
    throw new RangeError(`the nonce store keeps nonces ${opts.nonceStore.maxSkewMs} ms, less than maxSkewMs ${maxSkewMs}`);
  }

  const verify = async (req: IncomingMessage): Promise<Buffer> => {
    if (!opts.secret) {
      throw reject('GOV_ERR_ADMIN_NO_SECRET', `no admin secret is configured here (admin.secretFile or ${ADMIN_SECRET_ENV}): state-changing requests are refused`);
    }
    // Cheap checks first, so that a bad request costs no body read.
    checkTimestamp(parseSignatureHeaders(req.headers).timestamp, opts.clock.now(), maxSkewMs);
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > maxBodyBytes) throw reject('GOV_ERR_ADMIN_BODY_TOO_LARGE', `request body of ${declared} bytes exceeds ${maxBodyBytes}`);
    const body = await readBody(req, maxBodyBytes);
    verifySignedRequest({
      secret: opts.secret,
      method: req.method ?? '',
      path: req.url ?? '',
      headers: req.headers,
      body,
      now: opts.clock.now(),
      maxSkewMs,
      nonceStore: opts.nonceStore,
    });
    return body;
  };

  return {
    method: route.method,
    path: route.path,
    async handler(req, res, url) {
      let body: Buffer;
      try {
        body = await verify(req);
      } catch (err) {
        if (!isGovError(err) || !Object.hasOwn(REJECTION_STATUS, err.code)) throw err;
        const code = err.code as RejectionCode;
        countRejection(opts.blackboard, code);
        opts.log?.warn({ method: req.method, path: url.pathname, code, remote: req.socket.remoteAddress }, `admin request rejected: ${err.message}`);
        const headers: Record<string, string> = { connection: 'close' };
        if (REJECTION_STATUS[code] === 401) headers['www-authenticate'] = 'Governor-HMAC-SHA256';
        if (code === 'GOV_ERR_ADMIN_NONCE_STORE_FULL') headers['retry-after'] = String(Math.ceil(maxSkewMs / 1000));
        sendError(res, REJECTION_STATUS[code], code, err.message, headers);
        return;
      }
      await route.handler(req, res, url, body);
    },
  };
}

/** Parses a signed route's body as JSON; GOV_ERR_ADMIN_BAD_REQUEST when it is not JSON. */
export function parseJsonBody(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new GovError('GOV_ERR_ADMIN_BAD_REQUEST', `request body is not valid JSON: ${(err as Error).message}`);
  }
}

export interface AdminSecretSource {
  /** admin.secretFile; relative to the working directory. Takes the place of the variable. */
  file?: string;
  /** Default process.env; ADMIN_SECRET_ENV is read when no file is given. */
  env?: NodeJS.ProcessEnv;
}

function secretError(message: string, details: Record<string, unknown>, cause?: unknown): GovError {
  return new GovError('GOV_ERR_ADMIN_SECRET', message, details, cause === undefined ? undefined : { cause });
}

/**
 * The admin secret: the file's content, else the environment variable's value (surrounding
 * whitespace trimmed), or undefined when neither is set. Throws GOV_ERR_ADMIN_SECRET when both
 * are set, when the file is unreadable or (on POSIX) accessible to group or others, or when the
 * secret is shorter than MIN_SECRET_BYTES.
 */
export function loadAdminSecret(source: AdminSecretSource = {}): Buffer | undefined {
  const env = source.env ?? process.env;
  const fromEnv = env[ADMIN_SECRET_ENV];
  let text: string;
  let origin: string;
  if (source.file !== undefined) {
    if (fromEnv !== undefined) {
      throw secretError(`both admin.secretFile (${source.file}) and ${ADMIN_SECRET_ENV} are set: keep one`, { file: source.file });
    }
    const file = resolve(source.file);
    origin = `admin.secretFile ${file}`;
    try {
      const mode = statSync(file).mode & 0o777;
      if (process.platform !== 'win32' && (mode & 0o077) !== 0) {
        throw secretError(`${origin} has mode ${mode.toString(8)}: it must not be accessible to group or others (chmod 600)`, { file, mode });
      }
      text = readFileSync(file, 'utf8');
    } catch (err) {
      if (isGovError(err)) throw err;
      throw secretError(`${origin} cannot be read: ${(err as Error).message}`, { file }, err);
    }
  } else if (fromEnv !== undefined) {
    origin = `environment variable ${ADMIN_SECRET_ENV}`;
    text = fromEnv;
  } else {
    return undefined;
  }
  const secret = Buffer.from(text.trim(), 'utf8');
  if (secret.length < MIN_SECRET_BYTES) {
    throw secretError(`${origin} holds ${secret.length} bytes: expected at least ${MIN_SECRET_BYTES} (e.g. openssl rand -hex 32)`, {
      bytes: secret.length,
    });
  }
  return secret;
}
