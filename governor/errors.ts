/**
 * One registry of error codes (DESIGN.md convention 6). Every code is documented in the
 * README's "Error codes" table; test/governor/errors.test.ts keeps the two in step.
 * Add a code here with a one-line meaning; never reuse or renumber one.
 */
export const ERROR_CODES = {
  GOV_ERR_CONFIG_INVALID: 'The configuration file failed validation; every problem is listed.',
  GOV_ERR_CONFIG_READ: 'The configuration file could not be read or parsed (JSON/YAML syntax).',
  GOV_ERR_CONFIG_ORIGIN_CA: 'proxy.originCaFile cannot be read, holds no PEM certificate, or holds one that does not parse.',
  GOV_ERR_RULES_INVALID: 'A rule set failed validation; the last good set stays active.',
  GOV_ERR_TASK_LOAD: 'A task module could not be imported or is not a valid Task.',
  GOV_ERR_TASK_TIMEOUT: 'A task run exceeded its timeoutMs and was aborted.',
  GOV_ERR_TASK_FAILED: 'A task run threw or rejected.',
  GOV_ERR_TASK_UNKNOWN: 'invoke() named a task that is not loaded.',
  GOV_ERR_TASK_ABORTED: 'The scheduler stopped: a run still going at the stop deadline was aborted, or invoke() came after stop().',
  GOV_ERR_SHUTDOWN_FAILED: 'A controlled shutdown could not terminate this instance; it stays not ready and leaving until invoked again.',
  GOV_ERR_CLOUD_UNAVAILABLE: 'A cloud call failed (network, throttling, 5xx, injected failure).',
  GOV_ERR_CLOUD_THROTTLED: 'A cloud call was refused by a rate limit (or an injected throttle); retry later.',
  GOV_ERR_CLOUD_BAD_REQUEST: 'A cloud call got bad input (launch token, summary, endpoints, command, id); nothing changed.',
  GOV_ERR_CLOUD_NOT_FOUND: 'The cloud has no record of the instance or command named.',
  GOV_ERR_CLOUD_BAD_STATE: 'The call is not allowed in the instance state (e.g. markRunning after leaving or terminated).',
  GOV_ERR_CLOUD_CAPACITY: 'EC2 had no capacity (or quota) for the launch (InsufficientInstanceCapacity, VcpuLimitExceeded...), after the SDK retries; nothing was launched twice.',
  GOV_ERR_CLOUD_AUTH: 'A cloud call was refused for its credentials or permissions (expired token, AuthFailure, UnauthorizedOperation).',
  GOV_ERR_CLOUD_SLOT_TAKEN: 'EC2 refused a launch token used by a peer with other parameters (IdempotentParameterMismatch) and the peer instance could not be found; not retried.',
  GOV_ERR_CLOUD_IMDS_TIMEOUT: 'The instance metadata service (IMDSv2) did not answer within cloud.ec2.imdsTimeoutMs.',
  GOV_ERR_ACTION_PARAMS: 'A rule event carried a param its action task cannot use (unknown name, not a number, out of range); the action was not taken and the rule file and param are named.',
  GOV_ERR_REGION_RUNNING: 'governor up found another live region owning the same state directory.',
  GOV_ERR_SIM_TRACE: 'A simulator trace is unknown, or its CSV file is unreadable or malformed (the file, line and expectation are named).',
  GOV_ERR_SIM_INVALID: 'A simulation was given a parameter out of range (model, faults, policy, step or duration); nothing ran.',
  GOV_ERR_CLI_USAGE: 'The command line was malformed: unknown command, unknown flag or bad value.',
  GOV_ERR_LOAD_INVALID: 'governor load was given a target outside the loopback range, or a rate, duration, step count or path out of bounds.',
  GOV_ERR_FRONT_DOOR_NO_READY: 'The front door has no ready instance for a request; it answered 503 with Retry-After.',
  GOV_ERR_FRONT_DOOR_UPSTREAM: 'The front door got no response from the instance it chose (connection failed or timed out) and could not retry.',
  GOV_ERR_PROXY_SHED: 'The proxy already had maxInFlight requests at the origin and maxQueue waiting; it answered 503 with Retry-After.',
  GOV_ERR_PROXY_QUEUE_TIMEOUT: 'A request waited in the admission queue longer than queueTimeoutMs; it was answered 503 with Retry-After.',
  GOV_ERR_PROXY_DRAINING: 'The proxy is draining (controlled shutdown) and admits no new request; it answered 503 with Retry-After and Connection: close.',
  GOV_ERR_PROXY_UPSTREAM_REFUSED: 'The origin refused the connection (502).',
  GOV_ERR_PROXY_UPSTREAM_RESET: 'The origin closed or reset the connection before its response was complete (502, or a cut response once headers were sent).',
  GOV_ERR_PROXY_UPSTREAM_TIMEOUT: 'The origin sent nothing for upstreamTimeoutMs: no response headers (504) or no further body (cut response).',
  GOV_ERR_PROXY_UPSTREAM_FAILED: 'The request to the origin failed for another reason (DNS, unreachable, TLS, invalid response) (502).',
  GOV_ERR_PROXY_CLIENT_GONE: 'The client closed its connection before its response was complete; the request to the origin was cancelled.',
  GOV_ERR_PROXY_CLIENT_TIMEOUT: 'A client took nothing of its response for clientTimeoutMs while the proxy waited to write it; its connection was closed.',
  GOV_ERR_PROXY_BLOCKED: 'The client address is on the denylist until its entry expires (403, Connection: close).',
  GOV_ERR_PROXY_BAD_REQUEST: 'The request was malformed or had a smuggling shape (Content-Length with Transfer-Encoding, duplicate Content-Length or Host, bad framing) (400, Connection: close).',
  GOV_ERR_PROXY_HEADERS_TOO_LARGE: 'The request had more header fields than limits.maxHeaderCount or more header bytes than limits.maxHeaderBytes (431).',
  GOV_ERR_PROXY_URL_TOO_LONG: 'The request target was longer than limits.maxUrlLength (414).',
  GOV_ERR_PROXY_BODY_TOO_LARGE: 'The request body was larger than limits.maxBodyBytes (413, or a cut upload once the origin request started).',
  GOV_ERR_PROXY_REQUEST_TIMEOUT: 'The client did not send its request headers within limits.headersTimeoutMs, or its whole request within clientTimeoutMs (408).',
  GOV_ERR_PROXY_DEADLINE: 'The request had no response head from the origin within deadlines.totalMs, queueing and retries included (504).',
  GOV_ERR_PROXY_CONNECT_TIMEOUT: 'No connection to the origin could be made within deadlines.connectMs (504 once retries, if any, were spent).',
  GOV_ERR_PROXY_CIRCUIT_OPEN: 'The circuit breaker is open after consecutive origin failures: the request failed fast (503 with Retry-After) as no stale copy could be served.',
  GOV_ERR_PROXY_WORKER_EXITED: 'A proxy worker process exited unexpectedly; the primary replaced it.',
  GOV_ERR_ADMIN_BAD_REQUEST: 'The admin API received a request it cannot parse.',
  GOV_ERR_ADMIN_NOT_FOUND: 'The admin API has no route at the requested path (404).',
  GOV_ERR_ADMIN_METHOD: 'The admin API route does not accept the request method (405; the Allow header lists those it does).',
  GOV_ERR_ADMIN_BODY_TOO_LARGE: 'An admin API request body exceeded its size limit (413).',
  GOV_ERR_ADMIN_HEADERS_TOO_LARGE: 'An admin API request had headers larger than the limit (431).',
  GOV_ERR_ADMIN_TIMEOUT: 'An admin API client did not send its request in time (408).',
  GOV_ERR_ADMIN_INTERNAL: 'An admin API route handler failed (500); the server keeps serving.',
  GOV_ERR_ADMIN_UNSIGNED: 'A state-changing admin request carried no signature headers (401).',
  GOV_ERR_ADMIN_BAD_SIGNATURE: 'An admin request signature did not match the method, path, body, timestamp and nonce under the shared secret (401).',
  GOV_ERR_ADMIN_EXPIRED: 'A signed admin request had a timestamp older than admin.maxSkewMs (401).',
  GOV_ERR_ADMIN_FUTURE_DATED: 'A signed admin request had a timestamp more than admin.maxSkewMs ahead of this clock (401).',
  GOV_ERR_ADMIN_REPLAY: 'A signed admin request reused a nonce already accepted within the skew window (409).',
  GOV_ERR_ADMIN_NO_SECRET: 'A state-changing admin request arrived but this instance has no admin secret configured (403).',
  GOV_ERR_ADMIN_NONCE_STORE_FULL: 'Too many signed admin requests within one skew window; retry after Retry-After (503).',
  GOV_ERR_ADMIN_SECRET: 'The admin secret (GOVERNOR_ADMIN_SECRET or admin.secretFile) is unreadable, too short, or its file is readable by others.',
  GOV_ERR_SHUTDOWN_REFUSED: 'An instance refused a controlled-shutdown request: it is the last serving instance of its region and includingLast was not given (409 on the admin API).',
  GOV_ERR_OPERATOR_TARGET: 'An operator command named an instance that is not a live member of the fleet in the region, or a region with no members.',
  GOV_ERR_OPERATOR_TIMEOUT: 'An operator command was not acknowledged before it expired, or a shutdown did not finish within the time the operator allowed.',
  GOV_ERR_OPERATOR_ADMIN: 'An operator request to an instance admin API failed: unreachable, or answered with an error (the message has the status and the code).',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** An error with a registered code; `details` carries the file/key/value/expectation. */
export class GovError extends Error {
  readonly code: ErrorCode;
  readonly details?: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'GovError';
    this.code = code;
    this.details = details;
  }
}

export function isGovError(err: unknown, code?: ErrorCode): err is GovError {
  return err instanceof GovError && (code === undefined || err.code === code);
}

/** A plain {code?, message} view of anything thrown, for records and journal entries. */
export function describeError(err: unknown): { code?: string; message: string } {
  if (err instanceof GovError) return { code: err.code, message: err.message };
  if (err instanceof Error) return { code: (err as { code?: string }).code, message: err.message };
  return { message: String(err) };
}
