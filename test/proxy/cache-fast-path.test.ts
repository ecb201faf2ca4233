import type { IncomingHttpHeaders } from 'node:http';
import type CachePolicy from 'http-cache-semantics';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ageOf, createEntry, isFresh, storablePolicy, usability, type CacheEntry, type PolicyRequest } from '../../proxy/cache-entry.js';
import { storedReply } from '../../proxy/cache-serve.js';

// The hit path computes freshness and Age from figures stored with the entry instead of calling
// http-cache-semantics on every hit. These tests hold it to the library's answers at the same time.

const T0 = Date.parse('2024-05-01T12:00:00Z');
const HTTP_DATE = (ms: number) => new Date(ms).toUTCString();

afterEach(() => {
  vi.useRealTimers();
});

function policyRequest(headers: IncomingHttpHeaders = {}): PolicyRequest {
  return { url: '/a', method: 'GET', headers: { ...headers, host: 'origin.test' } as CachePolicy.Headers };
}

/** An entry stored at T0 from a 200 with `headers`. */
function stored(headers: IncomingHttpHeaders): CacheEntry {
  vi.useFakeTimers({ now: T0, toFake: ['Date'] });
  const request = policyRequest();
  const policy = storablePolicy(request, 200, headers);
  if (policy === undefined) throw new Error(`not storable: ${JSON.stringify(headers)}`);
  return createEntry('/a', request, policy, 200, headers, Buffer.from('body'));
}

/** The library's verdict at `now` for a request with `headers`, in the fast path's terms. */
function libraryVerdict(entry: CacheEntry, headers: IncomingHttpHeaders, now: number): string {
  vi.setSystemTime(now);
  const verdict = entry.policy.evaluateRequest(policyRequest(headers));
  if (verdict.response === undefined) return 'revalidate';
  return verdict.revalidation === undefined ? 'fresh' : 'stale-while-revalidate';
}

const RESPONSES: Record<string, IncomingHttpHeaders> = {
  'max-age': { 'cache-control': 'max-age=60', date: HTTP_DATE(T0) },
  'max-age with Age': { 'cache-control': 'max-age=60', age: '45', date: HTTP_DATE(T0) },
  'Age beyond max-age': { 'cache-control': 'max-age=60', age: '90', etag: '"x"' },
  'malformed Age': { 'cache-control': 'max-age=60', age: 'soon' },
  's-maxage over max-age': { 'cache-control': 'max-age=0, s-maxage=30' },
  Expires: { expires: HTTP_DATE(T0 + 20_000), date: HTTP_DATE(T0) },
  'heuristic (Last-Modified)': { 'last-modified': HTTP_DATE(T0 - 100_000), date: HTTP_DATE(T0) },
  'max-age=0 with a validator': { 'cache-control': 'max-age=0', etag: '"v"' },
  'no-cache with a validator': { 'cache-control': 'no-cache', etag: '"v"' },
  'stale-while-revalidate': { 'cache-control': 'max-age=10, stale-while-revalidate=30' },
  Vary: { 'cache-control': 'max-age=60', vary: 'accept-encoding' },
};
const OFFSETS_MS = [0, 1, 499, 500, 999, 1_000, 9_999, 10_000, 14_500, 15_000, 19_999, 20_000, 29_999, 30_000, 59_999, 60_000, 3_600_000];

describe('the cache hit fast path', () => {
  for (const [name, headers] of Object.entries(RESPONSES)) {
    it(`gives the library's freshness and Age over time: ${name}`, () => {
      const entry = stored(headers);
      for (const offset of OFFSETS_MS) {
        const now = T0 + offset;
        vi.setSystemTime(now);
        expect(isFresh(entry, now), `fresh at +${offset} ms`).toBe(!entry.policy.stale());
        expect(ageOf(entry, now), `Age at +${offset} ms`).toBe(Math.round(entry.policy.age()));
        // A request without Cache-Control or Pragma: the fast path's verdict is the library's.
        expect(usability(entry, {}, now, () => policyRequest()), `plain request at +${offset} ms`).toBe(libraryVerdict(entry, {}, now));
      }
    });
  }

  it('asks the library whenever the request carries Cache-Control or Pragma', () => {
    const entry = stored(RESPONSES['max-age with Age']);
    const requests: IncomingHttpHeaders[] = [
      { 'cache-control': 'no-cache' },
      { 'cache-control': 'max-age=0' },
      { 'cache-control': 'max-age=50' },
      { 'cache-control': 'min-fresh=30' },
      { 'cache-control': 'max-stale=100' },
      { pragma: 'no-cache' },
    ];
    for (const headers of requests) {
      for (const offset of OFFSETS_MS) {
        const now = T0 + offset;
        vi.setSystemTime(now); // the library path reads the clock itself
        const verdict = usability(entry, headers, now, () => policyRequest(headers));
        expect(verdict, `${JSON.stringify(headers)} at +${offset} ms`).toBe(libraryVerdict(entry, headers, now));
      }
    }
    // The fast path would have said fresh at T0: these requests must not be served from it.
    vi.setSystemTime(T0);
    expect(usability(entry, { 'cache-control': 'no-cache' }, T0, () => policyRequest({ 'cache-control': 'no-cache' }))).toBe('revalidate');
    expect(usability(entry, { 'cache-control': 'max-age=0' }, T0, () => policyRequest({ 'cache-control': 'max-age=0' }))).toBe('revalidate');
    expect(usability(entry, { pragma: 'no-cache' }, T0, () => policyRequest({ pragma: 'no-cache' }))).toBe('revalidate');
  });

  it('serves a fresh must-revalidate response (RFC 9111 5.2.2.2), where the library always revalidates it', () => {
    const entry = stored({ 'cache-control': 'max-age=60, must-revalidate' });
    expect(usability(entry, {}, T0 + 1_000, () => policyRequest())).toBe('fresh');
    expect(libraryVerdict(entry, {}, T0 + 1_000)).toBe('revalidate');
    expect(usability(entry, {}, T0 + 61_000, () => policyRequest())).toBe('revalidate');
  });

  it('writes the Age of the reply time into every kind of stored reply, the entry headers untouched', () => {
    const entry = stored({ 'cache-control': 'max-age=600', age: '5', etag: '"v"', 'content-type': 'text/plain' });
    const before = [...entry.headers];
    const now = T0 + 12_400;
    vi.setSystemTime(now);
    const expectedAge = String(Math.round(entry.policy.age()));
    const ageIn = (headers: string[]) => headers[headers.indexOf('age') + 1];
    const cases: Array<[IncomingHttpHeaders, number]> = [
      [{}, 200],
      [{ 'if-none-match': '"v"' }, 304],
      [{ 'if-none-match': '"other"' }, 200],
      [{ range: 'bytes=0-1' }, 206],
      [{ range: 'bytes=10-' }, 416],
    ];
    for (const [headers, status] of cases) {
      const reply = storedReply(entry, 'GET', headers, ['x-governor-cache', 'HIT'], now);
      expect(reply.status, JSON.stringify(headers)).toBe(status);
      expect(ageIn(reply.headers), JSON.stringify(headers)).toBe(expectedAge);
      expect(reply.headers.slice(-2)).toEqual(['x-governor-cache', 'HIT']);
      expect(reply.headers.filter((value) => value === 'age')).toHaveLength(1);
    }
    expect(storedReply(entry, 'HEAD', {}, ['x-governor-cache', 'HIT'], now).body).toBeUndefined();
    expect(entry.headers).toEqual(before);
  });
});
