import type { IncomingMessage } from 'node:http';
import type { ResponseErrorCode } from './coded-errors.js';

export interface RequestLimits {
  maxHeaderCount: number;
  maxUrlLength: number;
  maxBodyBytes: number;
}

/**
 * What Node's HTTP parser lets through but a proxy must refuse, checked before anything else
 * happens to a request: a target too long or in a form other than origin-form, absolute-form or
 * `OPTIONS *`; more header fields than allowed (Node silently drops those beyond
 * server.maxHeadersCount, so the server keeps one more than the limit to see the excess); a
 * missing or repeated Host (two Hosts let the proxy and the origin see different sites);
 * Transfer-Encoding in an HTTP/1.0 request (framing 1.0 does not have, a smuggling vector); a
 * declared body over the limit. Node itself rejects, before the request handler runs,
 * Content-Length together with Transfer-Encoding, repeated or malformed Content-Length, a
 * Transfer-Encoding other than a final `chunked`, obs-fold, whitespace before a colon, bare LF
 * and bad chunk framing. Returns the code to refuse with, or undefined.
 */
export function checkRequest(req: IncomingMessage, limits: RequestLimits): ResponseErrorCode | undefined {
  const target = req.url ?? '';
  if (target.length > limits.maxUrlLength) return 'GOV_ERR_PROXY_URL_TOO_LONG';
  if (targetPath(target, req.method) === undefined) return 'GOV_ERR_PROXY_BAD_REQUEST';
  const raw = req.rawHeaders;
  if (raw.length / 2 > limits.maxHeaderCount) return 'GOV_ERR_PROXY_HEADERS_TOO_LARGE';
  let hosts = 0;
  for (let i = 0; i < raw.length; i += 2) if (isHost(raw[i])) hosts++;
  if (hosts > 1 || (hosts === 0 && req.httpVersion !== '1.0')) return 'GOV_ERR_PROXY_BAD_REQUEST';
  if (req.httpVersion === '1.0' && req.headers['transfer-encoding'] !== undefined) return 'GOV_ERR_PROXY_BAD_REQUEST';
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limits.maxBodyBytes) return 'GOV_ERR_PROXY_BODY_TOO_LARGE';
  return undefined;
}

/** Whether a raw header name is Host, in any case (the usual spellings without allocating). */
function isHost(name: string): boolean {
  return name.length === 4 && (name === 'Host' || name === 'host' || name.toLowerCase() === 'host');
}

/**
 * The origin-form path and query of a request target: as is for origin-form (`/a?b`), the path
 * and query of absolute-form (`http://host/a?b`, whose authority a reverse proxy ignores), `*` for
 * `OPTIONS *`; undefined for anything else.
 */
export function targetPath(target: string, method: string | undefined): string | undefined {
  if (target.startsWith('/')) return target;
  if (target === '*') return method === 'OPTIONS' ? '*' : undefined;
  if (!/^https?:\/\//i.test(target)) return undefined;
  try {
    const url = new URL(target);
    return url.pathname + url.search;
  } catch {
    return undefined;
  }
}

/** Whether a request carries a body (a declared non-zero length, or chunked framing). */
export function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}
