import type { IncomingHttpHeaders } from 'node:http';
import CachePolicy from 'http-cache-semantics';
import { hopByHopNames } from './headers.js';

/**
 * A request as the cache rules see it. `host` is always the origin's (every request of this proxy
 * goes to one origin), so that a stored response matches whatever Host the client sent.
 */
export interface PolicyRequest {
  url: string;
  method: string;
  headers: CachePolicy.Headers;
}

/** A stored response: its policy (the RFC 9111 rules, from http-cache-semantics), headers and whole body. */
export interface CacheEntry {
  key: string;
  policy: CachePolicy;
  status: number;
  /** Header names and values as served from the cache, flat; no Date (Node adds it), Age or Set-Cookie. */
  headers: string[];
  body: Buffer;
  /** Bytes this entry accounts for in cache.maxBytes. */
  size: number;
  /** The request header values a matching request must have, per name in the response's Vary. */
  vary: Array<[name: string, value: string | false]>;
  /**
   * The policy's time-independent figures, read once at store time, so that a hit computes Age
   * and freshness with the policy's own arithmetic without calling it: at epoch ms `now`, the
   * policy's age() is `initialAge + (now - responseTime) / 1000` and it is stale when
   * `maxAge <= age` (http-cache-semantics 4.x).
   */
  maxAge: number;
  /** Seconds: the Age header the response came with (0 when absent or malformed). */
  initialAge: number;
  /** Epoch ms the policy received the response at (its resident time counts from there). */
  responseTime: number;
  etag?: string;
  lastModified?: string;
  /** Stale copies may not be served at all (no-cache, must-revalidate, proxy-revalidate, s-maxage). */
  staleForbidden: boolean;
  /** Seconds a stale copy may be served when the origin fails (the stale-if-error directive). */
  staleIfErrorSeconds: number;
}

/** Headers never stored: hop-by-hop (also per Connection), Date and Age (recomputed), Set-Cookie (one client's). */
const NOT_STORED = new Set(['date', 'age', 'set-cookie', 'transfer-encoding', 'content-length']);

/** Bytes a stored header set and bookkeeping count for, besides the body. */
const ENTRY_OVERHEAD = 512;

export function cacheControlOf(headers: IncomingHttpHeaders): Map<string, string | true> {
  const directives = new Map<string, string | true>();
  const value = headers['cache-control'];
  if (value === undefined) return directives;
  for (const part of value.split(',')) {
    const [name, argument] = part.split('=', 2);
    const key = name.trim().toLowerCase();
    if (key !== '') directives.set(key, argument === undefined ? true : argument.trim().replace(/^"|"$/g, ''));
  }
  return directives;
}

/**
 * Whether a response to a GET may be stored, before its body is read. The rules are
 * http-cache-semantics' storable() (method, status, no-store, private, Authorization, explicit or
 * heuristic freshness), plus: no `Vary: *`, and a response carrying Set-Cookie only when it is
 * explicitly `public` (the conservative reading, as nginx's default) and then without the cookie.
 * A response with no freshness at all is kept only when it has a validator (ETag or
 * Last-Modified), so that it can be revalidated with a 304.
 */
export function storablePolicy(request: PolicyRequest, status: number, headers: IncomingHttpHeaders): CachePolicy | undefined {
  const quick = headers['cache-control'];
  if (quick !== undefined && /no-store|private/i.test(quick)) return undefined;
  const policy = new CachePolicy(request, { status, headers: headers as CachePolicy.Headers }, { shared: true });
  if (!policy.storable()) return undefined;
  if (headers.vary !== undefined && headers.vary.split(',').some((name) => name.trim() === '*')) return undefined;
  if (headers['set-cookie'] !== undefined && !/\bpublic\b/i.test(quick ?? '')) return undefined;
  if (policy.maxAge() <= 0 && headers.etag === undefined && headers['last-modified'] === undefined) return undefined;
  return policy;
}

/** Builds a stored entry from a policy, the response head's headers and the complete body. */
export function createEntry(key: string, request: PolicyRequest, policy: CachePolicy, status: number, responseHeaders: IncomingHttpHeaders, body: Buffer): CacheEntry {
  const dropped = new Set([...hopByHopNames(responseHeaders), ...NOT_STORED]);
  const headers: string[] = [];
  let headerBytes = 0;
  for (const [name, value] of Object.entries(responseHeaders)) {
    if (value === undefined || dropped.has(name)) continue;
    for (const one of Array.isArray(value) ? value : [value]) {
      headers.push(name, one);
      headerBytes += name.length + one.length;
    }
  }
  headers.push('content-length', String(body.length));
  const directives = cacheControlOf(responseHeaders);
  // toObject() is the policy's documented serialization: t is its response time, resh the headers it read Age from.
  const { t, resh } = policy.toObject() as { t: number; resh: CachePolicy.Headers };
  return {
    key,
    policy,
    status,
    headers,
    body,
    size: body.length + headerBytes + ENTRY_OVERHEAD,
    vary: varyOf(responseHeaders, request.headers),
    maxAge: policy.maxAge(),
    initialAge: toNumberOrZero(resh.age),
    responseTime: t,
    etag: single(responseHeaders.etag),
    lastModified: single(responseHeaders['last-modified']),
    staleForbidden: ['no-cache', 'must-revalidate', 'proxy-revalidate', 's-maxage'].some((name) => directives.has(name)),
    staleIfErrorSeconds: Number(directives.get('stale-if-error')) || 0,
  };
}

/** The entry after a 304 from the origin: the merged policy and headers, the same body. */
export function refreshedEntry(entry: CacheEntry, request: PolicyRequest, policy: CachePolicy): CacheEntry {
  const merged = policy.toObject().resh as IncomingHttpHeaders;
  return createEntry(entry.key, request, policy, entry.status, merged, entry.body);
}

function varyOf(responseHeaders: IncomingHttpHeaders, requestHeaders: CachePolicy.Headers): CacheEntry['vary'] {
  const vary = responseHeaders.vary;
  if (vary === undefined) return [];
  return vary
    .toLowerCase()
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '')
    .map((name) => [name, headerValue(requestHeaders, name)]);
}

function headerValue(headers: CachePolicy.Headers | IncomingHttpHeaders, name: string): string | false {
  const value = Object.hasOwn(headers, name) ? headers[name] : undefined;
  if (value === undefined) return false;
  return Array.isArray(value) ? value.join(', ') : value;
}

/** http-cache-semantics' reading of a numeric header (its toNumberOrZero). */
function toNumberOrZero(value: string | string[] | undefined): number {
  const n = parseInt(String(value), 10);
  return isFinite(n) ? n : 0;
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** Whether `requestHeaders` select this entry under its Vary (same comparison as http-cache-semantics). */
export function varyMatches(entry: CacheEntry, requestHeaders: IncomingHttpHeaders): boolean {
  for (const [name, value] of entry.vary) if (headerValue(requestHeaders, name) !== value) return false;
  return true;
}

/** How a stored entry can serve a request. */
export type Usability =
  /** Fresh (or stale within the client's max-stale): serve it. */
  | 'fresh'
  /** Stale within stale-while-revalidate: serve it and revalidate in the background. */
  | 'stale-while-revalidate'
  /** It must be revalidated with the origin before use (stale, no-cache, or the client asked). */
  | 'revalidate';

/** Whether `entry` is fresh at epoch ms `now`: the policy's `!stale()`, computed the same way from the stored figures. */
export function isFresh(entry: CacheEntry, now: number): boolean {
  return !(entry.maxAge <= ageAt(entry, now));
}

/** The policy's age() of `entry` at epoch ms `now`, in seconds, from the figures stored with it. */
function ageAt(entry: CacheEntry, now: number): number {
  return entry.initialAge + (now - entry.responseTime) / 1000;
}

/**
 * The RFC 9111 reuse decision for `entry` and a GET or HEAD request with `headers` (HEAD is judged
 * as GET: a stored GET response answers it) at epoch ms `now`. A fresh entry and a request without
 * Cache-Control or Pragma take a fast path (no call into the policy); others ask the policy with
 * `request()`. The fast path is the policy's answer for such a request, except that a fresh
 * `must-revalidate` response is served (RFC 9111 section 5.2.2.2: the directive applies once the
 * response is stale) where http-cache-semantics 4.x always revalidates it.
 */
export function usability(entry: CacheEntry, headers: IncomingHttpHeaders, now: number, request: () => PolicyRequest): Usability {
  if (headers['cache-control'] === undefined && headers.pragma === undefined && isFresh(entry, now)) return 'fresh';
  const verdict = entry.policy.evaluateRequest(request());
  if (verdict.response === undefined) return 'revalidate';
  return verdict.revalidation === undefined ? 'fresh' : 'stale-while-revalidate';
}

/** Whether a stale `entry` may stand in when the origin fails (RFC 5861 stale-if-error, RFC 9111 4.2.4). */
export function usableOnError(entry: CacheEntry): boolean {
  if (entry.staleForbidden || entry.staleIfErrorSeconds <= 0) return false;
  return entry.policy.maxAge() + entry.staleIfErrorSeconds > entry.policy.age();
}

/** The Age to send with a response served from `entry` at epoch ms `now`, in whole seconds: Math.round(policy.age()). */
export function ageOf(entry: CacheEntry, now: number): number {
  return Math.round(ageAt(entry, now));
}

/** The conditional headers to revalidate `entry` with: If-None-Match and/or If-Modified-Since. */
export function validatorsOf(entry: CacheEntry, request: PolicyRequest): Record<string, string> {
  const own = { ...request.headers };
  delete own['if-none-match'];
  delete own['if-modified-since'];
  const headers = entry.policy.revalidationHeaders({ url: request.url, method: 'GET', headers: own });
  const validators: Record<string, string> = {};
  const inm = headers['if-none-match'];
  const ims = headers['if-modified-since'];
  if (typeof inm === 'string') validators['if-none-match'] = inm;
  if (typeof ims === 'string') validators['if-modified-since'] = ims;
  return validators;
}
