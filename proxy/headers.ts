import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';

/**
 * Headers that describe one connection, not the message (RFC 9110 section 7.6.1), and so are never
 * forwarded. `trailer` is among them because the proxy does not forward trailers: passing the
 * announcement on makes Node throw ERR_HTTP_TRAILER_INVALID whenever the forwarded message is not
 * chunked, which http-proxy 1.18 does not catch (http-party/node-http-proxy#1647, #1261).
 */
const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'upgrade'];

/** The hop-by-hop names in a message: the fixed ones plus every name its Connection header lists. */
function hopByHopNames(headers: IncomingHttpHeaders): string[] {
  const listed = String(headers.connection ?? '')
    .split(',')
    .map((name) => name.trim().toLowerCase())
    .filter((name) => name !== '');
  return [...HOP_BY_HOP, ...listed];
}

/**
 * Makes a client request's headers fit to send to the origin, in place (http-proxy copies
 * `req.headers` when it builds the upstream request). Also removes `expect`: this server already
 * answered `100 Continue`, and http-proxy withholds its `proxyReq` event for a request that still
 * carries Expect, which would leave the upstream request out of reach. `transfer-encoding` stays:
 * Node frames the forwarded body by it.
 */
export function prepareRequestHeaders(headers: IncomingHttpHeaders): void {
  for (const name of hopByHopNames(headers)) delete headers[name];
  delete headers.expect;
}

/**
 * The origin's response headers as sent to the client: without hop-by-hop headers, and without
 * `transfer-encoding` for an HTTP/1.0 client, which cannot take chunked bodies (Node then ends the
 * body by closing the connection). Node frames the body by `content-length` / `transfer-encoding`.
 */
export function responseHeadersForClient(headers: IncomingHttpHeaders, clientHttpVersion: string): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = { ...headers };
  for (const name of hopByHopNames(headers)) delete out[name];
  if (clientHttpVersion === '1.0') delete out['transfer-encoding'];
  return out;
}
