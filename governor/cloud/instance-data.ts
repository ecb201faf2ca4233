import { MetadataService } from '@aws-sdk/ec2-metadata-service';
import { describeError, GovError } from '../errors.js';

export interface UserDataOptions {
  /** Base URL of IMDS; default: the SDK's (AWS_EC2_METADATA_SERVICE_ENDPOINT, else http://169.254.169.254). */
  endpoint?: string;
  /** Timeout of one metadata call (milliseconds). */
  timeoutMs: number;
}

const USER_DATA = 'latest/user-data';

function statusOf(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
}

/**
 * This instance's user data, read over IMDSv2 only (a session token first; never IMDSv1).
 * Contract: an instance without user data gives ''; any other failure rejects with
 * GOV_ERR_CLOUD_UNAVAILABLE (details.imds = true).
 */
export async function fetchUserData(opts: UserDataOptions): Promise<string> {
  const { endpoint, timeoutMs } = opts;
  const imds = new MetadataService({ endpoint, httpOptions: { timeout: timeoutMs }, ec2MetadataV1Disabled: true, retries: 2, backoff: 0.2 });
  // The SDK appends the path to the endpoint's path as is: avoid a double slash.
  const path = endpoint === undefined || new URL(endpoint).pathname.endsWith('/') ? USER_DATA : `/${USER_DATA}`;
  try {
    return await imds.request(path, {});
  } catch (err) {
    if (statusOf(err) === 404) return '';
    const where = endpoint ?? 'the instance metadata service';
    throw new GovError('GOV_ERR_CLOUD_UNAVAILABLE', `reading user data from ${where} failed: ${describeError(err).message}`, { imds: true, endpoint }, { cause: err });
  }
}
