import type { ServerResponse } from 'node:http';
import { ERROR_CODES, type ErrorCode } from '../governor/errors.js';

/** The codes the proxy answers or records with. */
export type ProxyErrorCode = Extract<ErrorCode, `GOV_ERR_PROXY_${string}`>;

/** The codes the proxy answers with (the others are only recorded: there is no one to answer). */
export type ResponseErrorCode = Exclude<ProxyErrorCode, 'GOV_ERR_PROXY_CLIENT_GONE' | 'GOV_ERR_PROXY_CLIENT_TIMEOUT' | 'GOV_ERR_PROXY_WORKER_EXITED'>;

/** The status a coded error response carries. */
export const STATUS_OF_CODE: Record<ResponseErrorCode, number> = {
  GOV_ERR_PROXY_SHED: 503,
  GOV_ERR_PROXY_QUEUE_TIMEOUT: 503,
  GOV_ERR_PROXY_DRAINING: 503,
  GOV_ERR_PROXY_UPSTREAM_REFUSED: 502,
  GOV_ERR_PROXY_UPSTREAM_RESET: 502,
  GOV_ERR_PROXY_UPSTREAM_TIMEOUT: 504,
  GOV_ERR_PROXY_UPSTREAM_FAILED: 502,
  GOV_ERR_PROXY_BLOCKED: 403,
  GOV_ERR_PROXY_BAD_REQUEST: 400,
  GOV_ERR_PROXY_HEADERS_TOO_LARGE: 431,
  GOV_ERR_PROXY_URL_TOO_LONG: 414,
  GOV_ERR_PROXY_BODY_TOO_LARGE: 413,
  GOV_ERR_PROXY_REQUEST_TIMEOUT: 408,
  GOV_ERR_PROXY_DEADLINE: 504,
  GOV_ERR_PROXY_CONNECT_TIMEOUT: 504,
  GOV_ERR_PROXY_CIRCUIT_OPEN: 503,
};

/** Status lines for the raw responses written to a socket the HTTP parser gave up on. */
const REASON_PHRASES: Record<number, string> = { 400: 'Bad Request', 408: 'Request Timeout', 413: 'Content Too Large', 414: 'URI Too Long', 431: 'Request Header Fields Too Large' };

/** The header that names the code of a response the proxy made itself. */
export const ERROR_HEADER = 'x-governor-error';

const RESET_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ERR_STREAM_PREMATURE_CLOSE']);

/** The code for an error of the request to the origin (timeouts are the proxy's own decision, not classified here). */
export function classifyUpstreamError(err: unknown): ResponseErrorCode {
  const code = (err as { code?: unknown } | null)?.code;
  if (code === 'ECONNREFUSED') return 'GOV_ERR_PROXY_UPSTREAM_REFUSED';
  if (typeof code === 'string' && RESET_CODES.has(code)) return 'GOV_ERR_PROXY_UPSTREAM_RESET';
  return 'GOV_ERR_PROXY_UPSTREAM_FAILED';
}

export interface ErrorResponseOptions {
  /** Adds `Retry-After` (seconds). */
  retryAfterSeconds?: number;
  /** Adds `Connection: close`, so that the client reconnects (elsewhere, behind a load balancer). */
  closeConnection?: boolean;
}

/**
 * Answers with the code's status, an `x-governor-error` header and a JSON body
 * `{"error":{"code","message"}}`. Returns the body's length in bytes. The caller checks that no
 * header has been sent yet.
 */
export function sendErrorResponse(res: ServerResponse, code: ResponseErrorCode, options: ErrorResponseOptions = {}): number {
  const body = JSON.stringify({ error: { code, message: ERROR_CODES[code] } });
  const headers: Record<string, string | number> = {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    [ERROR_HEADER]: code,
  };
  if (options.retryAfterSeconds !== undefined) headers['retry-after'] = options.retryAfterSeconds;
  if (options.closeConnection) headers.connection = 'close';
  res.writeHead(STATUS_OF_CODE[code], headers);
  res.end(body);
  return Buffer.byteLength(body);
}

/**
 * A complete coded error response as raw bytes with `Connection: close`, for a connection whose
 * request the HTTP parser rejected (there is no ServerResponse to write to).
 */
export function rawErrorResponse(code: ResponseErrorCode): string {
  const status = STATUS_OF_CODE[code];
  const body = JSON.stringify({ error: { code, message: ERROR_CODES[code] } });
  return (
    `HTTP/1.1 ${status} ${REASON_PHRASES[status] ?? 'Error'}\r\ncontent-type: application/json; charset=utf-8\r\n` +
    `content-length: ${Buffer.byteLength(body)}\r\ncache-control: no-store\r\n${ERROR_HEADER}: ${code}\r\nconnection: close\r\n\r\n${body}`
  );
}
