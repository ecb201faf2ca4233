import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';

/**
 * Headers that describe one connection, not the message (RFC 9110 section 7.6.1), and so are never
 * forwarded. `trailer` is among them because the proxy does not forward trailers: passing the
 * announcement on makes Node throw ERR_HTTP_TRAILER_INVALID whenever the forwarded message is not
 * chunked (the defect http-proxy 1.18 has: http-party/node-http-proxy#1647, #1261).
 */
const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'upgrade'];

/** The hop-by-hop names in a message: the fixed ones plus every name its Connection header lists. */
export function hopByHopNames(headers: IncomingHttpHeaders): string[] {
  const connection = headers.connection;
  if (connection === undefined || connection === 'keep-alive' || connection === 'close') return HOP_BY_HOP;
  const listed = connection
    .split(',')
    .map((name) => name.trim().toLowerCase())
    .filter((name) => name !== '');
  return [...HOP_BY_HOP, ...listed];
}

/** Request headers never forwarded besides hop-by-hop ones: Expect (the proxy answered `100 Continue` itself). */
const NOT_FORWARDED = new Set(['expect']);

/**
 * Copies `headers` without `dropped` names. A copy loop, not spread-then-delete: deleting turns an
 * object into a slow dictionary, and that shape measured at 450 bytes per request promoted to the
 * old generation (the garbage collector then costs more than the proxying).
 */
function copyWithout(headers: IncomingHttpHeaders, dropped: readonly string[], alsoDropped?: ReadonlySet<string>): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const name in headers) {
    if (dropped.includes(name) || alsoDropped?.has(name)) continue;
    out[name] = headers[name];
  }
  return out;
}

/**
 * The headers of a client request as sent to the origin: without hop-by-hop headers and Expect
 * (the proxy answered `100 Continue` itself), with Host set to the origin's (as nginx does), and
 * X-Forwarded-For / -Port / -Proto appended to and X-Forwarded-Host set from the client's values
 * (as http-proxy's xfwd does). `transfer-encoding` stays: Node frames the forwarded body by it.
 */
export function upstreamRequestHeaders(headers: IncomingHttpHeaders, clientAddress: string, originHost: string): OutgoingHttpHeaders {
  const out = copyWithout(headers, hopByHopNames(headers), NOT_FORWARDED);
  const clientHost = headers.host;
  const port = clientHost === undefined ? undefined : /:(\d+)$/.exec(clientHost)?.[1];
  out['x-forwarded-for'] = appended(headers['x-forwarded-for'], clientAddress);
  out['x-forwarded-port'] = appended(headers['x-forwarded-port'], port ?? '80');
  out['x-forwarded-proto'] = appended(headers['x-forwarded-proto'], 'http');
  out['x-forwarded-host'] = headers['x-forwarded-host'] ?? clientHost ?? '';
  out.host = originHost;
  return out;
}

function appended(current: string | string[] | undefined, value: string): string {
  if (current === undefined || current === '') return value;
  return `${Array.isArray(current) ? current.join(',') : current},${value}`;
}

const CHUNKED_FRAMING = new Set(['transfer-encoding']);

/**
 * The origin's response headers as sent to the client: without hop-by-hop headers, and without
 * `transfer-encoding` for an HTTP/1.0 client, which cannot take chunked bodies (Node then ends the
 * body by closing the connection). Node frames the body by `content-length` / `transfer-encoding`.
 */
export function responseHeadersForClient(headers: IncomingHttpHeaders, clientHttpVersion: string): OutgoingHttpHeaders {
  return copyWithout(headers, hopByHopNames(headers), clientHttpVersion === '1.0' ? CHUNKED_FRAMING : undefined);
}
