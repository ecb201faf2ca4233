import { createServer, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Logger } from 'pino';
import type { BlackboardApi } from './blackboard-types.js';
import { toJsonSafe } from './blackboard.js';
import { GovError, isGovError, type ErrorCode } from './errors.js';
import type { JournalApi, JournalKind, JournalQuery } from './journal-types.js';

/**
 * The admin HTTP API: health, readiness, the blackboard and the decision journal as JSON, plus
 * routes later parts add (status page, commands). Every answer is JSON; every error is
 * `{ error: { code, message } }` with a GOV_ERR_ADMIN_* code. Bad input never stops the server.
 */

/**
 * One route: `path` matches the URL path exactly; `method` is upper case. A GET route answers
 * HEAD too (without a body). The handler must respond, or start responding, before it settles;
 * if it throws, the client gets 500 (or the status of a GOV_ERR_ADMIN_* GovError it threw).
 */
export interface AdminRoute {
  method: string;
  path: string;
  handler(req: IncomingMessage, res: ServerResponse, url: URL): void | Promise<void>;
}

export interface AdminLimits {
  /** Larger request bodies get 413 (default 64 KiB). */
  maxBodyBytes: number;
  /** Larger request headers get 431 (default 16 KiB). */
  maxHeaderBytes: number;
  /** Headers must arrive within this, or 408 (default 10 s). */
  headersTimeoutMs: number;
  /** The whole request must arrive within this, or 408 (default 30 s). */
  requestTimeoutMs: number;
  /** An idle keep-alive connection is closed after this (default 5 s). */
  keepAliveTimeoutMs: number;
  /** Open connections at most; more are refused (default 128). */
  maxConnections: number;
}

export const DEFAULT_ADMIN_LIMITS: Readonly<AdminLimits> = Object.freeze({
  maxBodyBytes: 64 * 1024,
  maxHeaderBytes: 16 * 1024,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  maxConnections: 128,
});

export interface AdminServerOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0: any free port. */
  port?: number;
  blackboard: BlackboardApi;
  journal: JournalApi;
  isReady: () => boolean;
  /** Added after the built-in routes; a method and path already taken is an error. */
  routes?: AdminRoute[];
  log?: Logger;
  /** Shown under `meta` in GET /state (instance id, version, uptime...). */
  meta?: () => Record<string, unknown>;
  limits?: Partial<AdminLimits>;
}

export interface AdminServer {
  /** http://host:port of the listening server. */
  url: string;
  port: number;
  /** Stops listening and closes every connection; later calls return the same promise. */
  close(): Promise<void>;
}

/** The largest `limit` GET /journal accepts. */
export const MAX_JOURNAL_LIMIT = 1000;

/** Every journal kind (a Record so the compiler keeps it complete). */
const JOURNAL_KINDS: Record<JournalKind, true> = {
  intent: true,
  action: true,
  suppressed: true,
  error: true,
  rules: true,
  info: true,
};
const JOURNAL_PARAMS = ['since', 'kind', 'name', 'limit'];

/** HTTP status for GovErrors a handler throws; any other error is a 500. */
const STATUS_BY_CODE: Partial<Record<ErrorCode, number>> = {
  GOV_ERR_ADMIN_BAD_REQUEST: 400,
  GOV_ERR_ADMIN_NOT_FOUND: 404,
  GOV_ERR_ADMIN_METHOD: 405,
  GOV_ERR_ADMIN_BODY_TOO_LARGE: 413,
};

/** Writes `body` as a complete JSON response (not cached by clients). */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: OutgoingHttpHeaders = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    ...headers,
  });
  res.end(text);
}

export function sendError(
  res: ServerResponse,
  status: number,
  code: ErrorCode,
  message: string,
  headers: OutgoingHttpHeaders = {},
): void {
  sendJson(res, status, { error: { code, message } }, headers);
}

/** Reads the whole request body; rejects with GOV_ERR_ADMIN_BODY_TOO_LARGE beyond `maxBytes`. */
export function readBody(req: IncomingMessage, maxBytes: number = DEFAULT_ADMIN_LIMITS.maxBodyBytes): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        cleanup();
        req.pause();
        reject(new GovError('GOV_ERR_ADMIN_BODY_TOO_LARGE', `request body exceeds ${maxBytes} bytes`, { maxBytes }));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(Buffer.concat(chunks));
    };
    const onError = (err: Error) => {
      cleanup();
      reject(err);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}

/** Reads and parses a JSON body; GOV_ERR_ADMIN_BAD_REQUEST when it is not JSON. */
export async function readJsonBody(req: IncomingMessage, maxBytes?: number): Promise<unknown> {
  const text = (await readBody(req, maxBytes)).toString('utf8');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new GovError('GOV_ERR_ADMIN_BAD_REQUEST', `request body is not valid JSON: ${(err as Error).message}`);
  }
}

function badRequest(message: string): GovError {
  return new GovError('GOV_ERR_ADMIN_BAD_REQUEST', message);
}

function parseInteger(name: string, text: string, min: number, max: number): number {
  const value = /^\d{1,16}$/.test(text) ? Number(text) : NaN;
  if (!(value >= min && value <= max)) {
    throw badRequest(`query parameter ${name} = ${JSON.stringify(text)}: expected an integer from ${min} to ${max}`);
  }
  return value;
}

/** GET /journal's query string as a JournalQuery; GOV_ERR_ADMIN_BAD_REQUEST names the bad parameter. */
export function parseJournalQuery(params: URLSearchParams): JournalQuery {
  for (const key of new Set(params.keys())) {
    if (!JOURNAL_PARAMS.includes(key)) {
      throw badRequest(`unknown query parameter ${JSON.stringify(key)}: expected ${JOURNAL_PARAMS.join(', ')}`);
    }
    if (params.getAll(key).length > 1) throw badRequest(`query parameter ${key} given more than once`);
  }
  const query: JournalQuery = {};
  const since = params.get('since');
  if (since !== null) query.since = parseInteger('since', since, 0, Number.MAX_SAFE_INTEGER);
  const limit = params.get('limit');
  if (limit !== null) query.limit = parseInteger('limit', limit, 1, MAX_JOURNAL_LIMIT);
  const kind = params.get('kind');
  if (kind !== null) {
    if (!Object.hasOwn(JOURNAL_KINDS, kind)) {
      throw badRequest(`query parameter kind = ${JSON.stringify(kind)}: expected one of ${Object.keys(JOURNAL_KINDS).join(', ')}`);
    }
    query.kind = kind as JournalKind;
  }
  const name = params.get('name');
  if (name !== null) {
    if (name.length === 0 || name.length > 200) {
      throw badRequest(`query parameter name: expected 1 to 200 characters, got ${name.length}`);
    }
    query.name = name;
  }
  return query;
}

function builtInRoutes(opts: AdminServerOptions): AdminRoute[] {
  return [
    { method: 'GET', path: '/healthz', handler: (_req, res) => sendJson(res, 200, { ok: true }) },
    {
      method: 'GET',
      path: '/readyz',
      handler: (_req, res) => {
        const ready = opts.isReady();
        sendJson(res, ready ? 200 : 503, { ready });
      },
    },
    {
      method: 'GET',
      path: '/state',
      handler: (_req, res) => sendJson(res, 200, { meta: toJsonSafe(opts.meta?.() ?? {}), ...opts.blackboard.snapshot() }),
    },
    {
      method: 'GET',
      path: '/journal',
      handler: (_req, res, url) => {
        const entries = opts.journal.query(parseJournalQuery(url.searchParams));
        sendJson(res, 200, { entries: toJsonSafe(entries) });
      },
    },
  ];
}

type Handler = AdminRoute['handler'];

function routeTable(routes: AdminRoute[]): Map<string, Map<string, Handler>> {
  const table = new Map<string, Map<string, Handler>>();
  for (const route of routes) {
    const method = route.method.toUpperCase();
    if (!route.path.startsWith('/')) throw new TypeError(`admin route path must start with '/': ${route.path}`);
    const methods = table.get(route.path) ?? new Map<string, Handler>();
    if (methods.has(method)) throw new TypeError(`admin route ${method} ${route.path} is defined twice`);
    methods.set(method, route.handler);
    table.set(route.path, methods);
  }
  return table;
}

function allowHeader(methods: Map<string, Handler>): string {
  const names = new Set(methods.keys());
  if (names.has('GET')) names.add('HEAD');
  return [...names].sort().join(', ');
}

/** The response to a request the HTTP parser rejected, written straight to the socket. */
function rawErrorResponse(err: NodeJS.ErrnoException): string {
  const [status, reason, code, message]: [number, string, ErrorCode, string] =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'Request Header Fields Too Large', 'GOV_ERR_ADMIN_HEADERS_TOO_LARGE', 'request headers too large']
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'Request Timeout', 'GOV_ERR_ADMIN_TIMEOUT', 'request not received in time']
        : [400, 'Bad Request', 'GOV_ERR_ADMIN_BAD_REQUEST', `malformed HTTP request (${err.code ?? err.message})`];
  const body = JSON.stringify({ error: { code, message } });
  return (
    `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json; charset=utf-8\r\n` +
    `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`
  );
}

/** Starts the admin API; resolves once it listens (rejects when it cannot bind). */
export async function startAdminServer(opts: AdminServerOptions): Promise<AdminServer> {
  const limits: AdminLimits = { ...DEFAULT_ADMIN_LIMITS, ...opts.limits };
  const table = routeTable([...builtInRoutes(opts), ...(opts.routes ?? [])]);
  const log = opts.log;

  const dispatch = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://admin.invalid');
    } catch {
      return sendError(res, 400, 'GOV_ERR_ADMIN_BAD_REQUEST', 'malformed request target', { connection: 'close' });
    }
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > limits.maxBodyBytes) {
      const message = `request body of ${declared} bytes exceeds ${limits.maxBodyBytes}`;
      return sendError(res, 413, 'GOV_ERR_ADMIN_BODY_TOO_LARGE', message, { connection: 'close' });
    }
    const methods = table.get(url.pathname);
    if (!methods) return sendError(res, 404, 'GOV_ERR_ADMIN_NOT_FOUND', `no route for ${url.pathname}`);
    const method = req.method === 'HEAD' && !methods.has('HEAD') ? 'GET' : (req.method ?? '');
    const handler = methods.get(method);
    if (!handler) {
      const allow = allowHeader(methods);
      return sendError(res, 405, 'GOV_ERR_ADMIN_METHOD', `${req.method} not allowed on ${url.pathname}; allowed: ${allow}`, {
        allow,
      });
    }
    await handler(req, res, url);
    if (!res.headersSent) throw new Error('route handler settled without responding');
  };

  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    dispatch(req, res).catch((err: unknown) => {
      const status = (isGovError(err) && STATUS_BY_CODE[err.code]) || 500;
      if (status === 500) log?.error({ err, method: req.method, url: req.url }, 'admin route failed');
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const code: ErrorCode = isGovError(err) ? err.code : 'GOV_ERR_ADMIN_INTERNAL';
      const message = err instanceof Error ? err.message : String(err);
      sendError(res, status, code, status === 500 ? `${req.method} ${req.url} failed: ${message}` : message, {
        connection: 'close',
      });
    });
  };

  const server = createServer(
    {
      maxHeaderSize: limits.maxHeaderBytes,
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      connectionsCheckingInterval: Math.min(1000, limits.headersTimeoutMs),
    },
    onRequest,
  );
  server.maxConnections = limits.maxConnections;
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    log?.debug({ err: { code: err.code, message: err.message } }, 'admin client error');
    if (err.code === 'ECONNRESET' || !socket.writable || socket.bytesWritten > 0) {
      socket.destroy();
      return;
    }
    socket.end(rawErrorResponse(err));
    socket.once('finish', () => socket.destroy());
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => log?.error({ err }, 'admin server error'));

  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${host}:${address.port}`,
    port: address.port,
    close: () =>
      (closing ??= new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      })),
  };
}
