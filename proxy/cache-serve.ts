import type { IncomingHttpHeaders } from 'node:http';
import { ageOf, type CacheEntry } from './cache-entry.js';

/** A response made from a stored entry: status, flat headers, body (undefined for HEAD or 304). */
export interface StoredReply {
  status: number;
  headers: string[];
  body?: Buffer;
}

/** Headers a 304 carries (RFC 9110 section 15.4.5), besides Date. */
const NOT_MODIFIED_HEADERS = new Set(['cache-control', 'content-location', 'etag', 'expires', 'vary', 'last-modified']);

function weak(tag: string): string {
  return tag.startsWith('W/') ? tag.slice(2) : tag;
}

/** Whether the client's own validators match `entry` (If-None-Match, else If-Modified-Since). */
function notModified(headers: IncomingHttpHeaders, entry: CacheEntry): boolean {
  if (entry.status !== 200) return false;
  const inm = headers['if-none-match'];
  if (inm !== undefined) {
    if (entry.etag === undefined) return false;
    const stored = weak(entry.etag);
    return inm.trim() === '*' || inm.split(',').some((tag) => weak(tag.trim()) === stored);
  }
  const ims = headers['if-modified-since'];
  if (ims === undefined || entry.lastModified === undefined) return false;
  const modified = Date.parse(entry.lastModified);
  const since = Date.parse(ims);
  return Number.isFinite(modified) && Number.isFinite(since) && modified <= since;
}

/** Whether If-Range (absent, or matching the entry by strong ETag or exact Last-Modified) lets Range apply. */
function ifRangeHolds(headers: IncomingHttpHeaders, entry: CacheEntry): boolean {
  const value = headers['if-range'];
  if (value === undefined) return true;
  const condition = String(value);
  if (condition.startsWith('"')) return entry.etag !== undefined && !entry.etag.startsWith('W/') && entry.etag === condition;
  return entry.lastModified !== undefined && entry.lastModified === condition;
}

/** One satisfiable byte range, 'unsatisfiable', or undefined to ignore the header (absent, malformed, several ranges). */
export function parseRange(header: string | undefined, length: number): { start: number; end: number } | 'unsatisfiable' | undefined {
  if (header === undefined) return undefined;
  const match = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (match === null) return undefined;
  const [, first, last] = match;
  if (first === '' && last === '') return undefined;
  if (first === '') {
    const suffix = Number(last);
    if (suffix === 0 || length === 0) return 'unsatisfiable';
    return { start: Math.max(0, length - suffix), end: length - 1 };
  }
  const start = Number(first);
  const end = last === '' ? length - 1 : Math.min(Number(last), length - 1);
  if (last !== '' && Number(last) < start) return undefined;
  if (start >= length) return 'unsatisfiable';
  return { start, end };
}

/** `base` (flat names and values; not modified) followed by Age and the cache status header, in one allocation (every hit). */
function withAgeAndStatus(base: string[], age: number, cacheHeader: [string, string]): string[] {
  const length = base.length;
  const out = new Array<string>(length + 4);
  for (let i = 0; i < length; i++) out[i] = base[i];
  out[length] = 'age';
  out[length + 1] = String(age);
  out[length + 2] = cacheHeader[0];
  out[length + 3] = cacheHeader[1];
  return out;
}

/**
 * The reply to a GET or HEAD from a stored entry at epoch ms `now`: 304 when the client's
 * validators match, 206 or 416 for a single byte range of a stored 200 (several ranges get the
 * whole 200, as RFC 9110 allows), else the stored status, headers and body. Age is the entry's
 * age at `now`.
 */
export function storedReply(entry: CacheEntry, method: string, headers: IncomingHttpHeaders, cacheHeader: [string, string], now: number): StoredReply {
  const age = ageOf(entry, now);
  if (notModified(headers, entry)) {
    const kept: string[] = [];
    for (let i = 0; i < entry.headers.length; i += 2) {
      if (NOT_MODIFIED_HEADERS.has(entry.headers[i])) kept.push(entry.headers[i], entry.headers[i + 1]);
    }
    return { status: 304, headers: withAgeAndStatus(kept, age, cacheHeader) };
  }
  const range = method === 'GET' && entry.status === 200 && ifRangeHolds(headers, entry) ? parseRange(headers.range, entry.body.length) : undefined;
  if (range === undefined) {
    return { status: entry.status, headers: withAgeAndStatus(entry.headers, age, cacheHeader), body: method === 'HEAD' ? undefined : entry.body };
  }
  const withoutLength: string[] = [];
  for (let i = 0; i < entry.headers.length; i += 2) {
    if (entry.headers[i] !== 'content-length') withoutLength.push(entry.headers[i], entry.headers[i + 1]);
  }
  const total = entry.body.length;
  if (range === 'unsatisfiable') {
    return { status: 416, headers: withAgeAndStatus(['content-range', `bytes */${total}`, 'content-length', '0'], age, cacheHeader), body: Buffer.alloc(0) };
  }
  const body = entry.body.subarray(range.start, range.end + 1);
  return {
    status: 206,
    headers: withAgeAndStatus([...withoutLength, 'content-range', `bytes ${range.start}-${range.end}/${total}`, 'content-length', String(body.length)], age, cacheHeader),
    body,
  };
}
