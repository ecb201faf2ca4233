import { GovError, describeError, type ErrorCode } from '../errors.js';

/**
 * How an AWS SDK failure (after the SDK's own retries) becomes a coded GovError. Contract: the
 * result always has a GOV_ERR_CLOUD_* code, and `details` carry the port method, the AWS error
 * code, the HTTP status, the request id and the attempts the SDK made, when known.
 */

const THROTTLING = new Set([
  'RequestLimitExceeded',
  'Throttling',
  'ThrottlingException',
  'ThrottledException',
  'TooManyRequestsException',
  'RequestThrottled',
  'RequestThrottledException',
  'EC2ThrottledException',
  'BandwidthLimitExceeded',
  'PriorRequestNotComplete',
  'SlowDown',
]);

const CAPACITY = new Set([
  'InsufficientInstanceCapacity',
  'InsufficientHostCapacity',
  'InsufficientReservedInstanceCapacity',
  'InsufficientCapacity',
  'InstanceLimitExceeded',
  'VcpuLimitExceeded',
]);

const AUTH = new Set([
  'AuthFailure',
  'UnauthorizedOperation',
  'ExpiredToken',
  'ExpiredTokenException',
  'RequestExpired',
  'InvalidClientTokenId',
  'SignatureDoesNotMatch',
  'IncompleteSignature',
  'MissingAuthenticationToken',
  'OptInRequired',
  'Blocked',
  'CredentialsProviderError',
]);

/** The AWS error code of an SDK error (ServiceException name), if it is one. */
export function awsErrorCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const { name, $metadata } = err as { name?: unknown; $metadata?: unknown };
  if (name === 'CredentialsProviderError') return name;
  return $metadata !== undefined && typeof name === 'string' ? name : undefined;
}

function codeFor(awsCode: string | undefined, status: number | undefined): ErrorCode {
  if (awsCode !== undefined) {
    if (THROTTLING.has(awsCode)) return 'GOV_ERR_CLOUD_THROTTLED';
    if (CAPACITY.has(awsCode)) return 'GOV_ERR_CLOUD_CAPACITY';
    if (AUTH.has(awsCode)) return 'GOV_ERR_CLOUD_AUTH';
    if (awsCode === 'IdempotentParameterMismatch') return 'GOV_ERR_CLOUD_SLOT_TAKEN';
    if (awsCode.startsWith('InvalidInstanceID.NotFound')) return 'GOV_ERR_CLOUD_NOT_FOUND';
  }
  if (status === 429) return 'GOV_ERR_CLOUD_THROTTLED';
  if (status === 401 || status === 403) return 'GOV_ERR_CLOUD_AUTH';
  if (status !== undefined && status >= 400 && status < 500) return 'GOV_ERR_CLOUD_BAD_REQUEST';
  return 'GOV_ERR_CLOUD_UNAVAILABLE';
}

/** `err` as a coded cloud error of port method `method` (GovErrors pass through unchanged). */
export function ec2CloudError(method: string, err: unknown): GovError {
  if (err instanceof GovError) return err;
  const awsCode = awsErrorCode(err);
  const metadata = (err as { $metadata?: { httpStatusCode?: number; requestId?: string; attempts?: number } } | null)?.$metadata;
  const details: Record<string, unknown> = { method };
  if (awsCode !== undefined) details.awsCode = awsCode;
  if (metadata?.httpStatusCode !== undefined) details.httpStatus = metadata.httpStatusCode;
  if (metadata?.requestId !== undefined) details.requestId = metadata.requestId;
  if (metadata?.attempts !== undefined) details.attempts = metadata.attempts;
  const { message } = describeError(err);
  return new GovError(codeFor(awsCode, metadata?.httpStatusCode), `${method}: ${awsCode ? `${awsCode}: ` : ''}${message}`, details, { cause: err });
}
