import { signRequest } from '../admin-auth.js';
import { GovError, describeError } from '../errors.js';

/**
 * The operator's HTTP client for instance admin APIs: open reads of GET /state and signed
 * POSTs to the control routes. Every failure is a GovError GOV_ERR_OPERATOR_ADMIN naming the
 * URL and, for an HTTP error, the status and the server's error code.
 */

export const ADMIN_REQUEST_TIMEOUT_MS = 5000;

/** GET /state's JSON: the blackboard values (and meta). */
export interface InstanceStateDoc {
  meta?: Record<string, unknown>;
  values: Record<string, unknown>;
}

function failure(url: URL, message: string, details: Record<string, unknown> = {}, cause?: unknown): GovError {
  return new GovError('GOV_ERR_OPERATOR_ADMIN', `${url.href}: ${message}`, { url: url.href, ...details }, cause === undefined ? undefined : { cause });
}

async function request(url: URL, init: RequestInit, timeoutMs: number): Promise<{ status: number; body: unknown }> {
  let res: Response;
  try {
    res = await fetch(url, { ...init, redirect: 'error', signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    throw failure(url, `unreachable: ${describeError((err as { cause?: unknown }).cause ?? err).message}`, { unreachable: true }, err);
  }
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw failure(url, `HTTP ${res.status} with a body that is not JSON`, { status: res.status });
  }
  return { status: res.status, body };
}

/** Whether an error from this client means nothing answered at that address. */
export function isUnreachable(err: unknown): boolean {
  return err instanceof GovError && err.code === 'GOV_ERR_OPERATOR_ADMIN' && err.details?.unreachable === true;
}

/** GET /state of the instance at `adminUrl`. */
export async function fetchInstanceState(adminUrl: string, timeoutMs = ADMIN_REQUEST_TIMEOUT_MS): Promise<InstanceStateDoc> {
  const url = new URL('/state', adminUrl);
  const { status, body } = await request(url, { method: 'GET' }, timeoutMs);
  const doc = body as Partial<InstanceStateDoc> | null;
  if (status !== 200 || typeof doc?.values !== 'object' || doc.values === null) throw failure(url, `HTTP ${status}: no state document`, { status });
  return doc as InstanceStateDoc;
}

/**
 * POSTs `payload` as JSON to `path` of the instance at `adminUrl`, signed with `secret`.
 * Resolves with the status and JSON body of a 2xx answer and of 409 (a refusal the caller
 * reads); rejects for every other status.
 */
export async function postSigned(
  adminUrl: string,
  path: string,
  payload: unknown,
  secret: Buffer,
  timeoutMs = ADMIN_REQUEST_TIMEOUT_MS,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const url = new URL(path, adminUrl);
  const text = JSON.stringify(payload);
  const headers = { 'content-type': 'application/json', ...signRequest({ secret, method: 'POST', path: url.pathname + url.search, body: text }) };
  const { status, body } = await request(url, { method: 'POST', headers, body: text }, timeoutMs);
  const doc = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
  if ((status >= 200 && status < 300) || status === 409) return { status, body: doc };
  const error = doc.error as { code?: string; message?: string } | undefined;
  throw failure(url, `HTTP ${status} ${error?.code ?? ''}: ${error?.message ?? 'no error message'}`.replace('  ', ' '), { status, code: error?.code });
}
