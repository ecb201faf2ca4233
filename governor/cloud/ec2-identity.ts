import { MetadataService } from '@aws-sdk/ec2-metadata-service';
import type { Clock } from '../clock.js';
import { GovError, describeError } from '../errors.js';

/** This instance as the instance metadata service describes it. */
export interface InstanceIdentityDocument {
  instanceId: string;
  region: string;
  availabilityZone: string;
  imageId: string;
}

export interface ImdsOptions {
  /** Base URL of IMDS; default: the SDK's (AWS_EC2_METADATA_SERVICE_ENDPOINT, else http://169.254.169.254). */
  endpoint?: string;
  /** Bound of the whole read: token PUT, document GET and their retries. */
  timeoutMs: number;
  clock: Clock;
}

const IDENTITY_DOCUMENT = 'latest/dynamic/instance-identity/document';
/** Each read fetches its own token (the SDK does not keep one); it needs to live for one read only. */
const TOKEN_TTL_SECONDS = 60;
const RETRIES = 2;
const RETRY_BASE_MS = 100;

/** Settles like `work`, or rejects with `onTimeout()` once `ms` passed on `clock` (work is then left to fail by itself). */
function withDeadline<T>(work: Promise<T>, ms: number, clock: Clock, onTimeout: () => Error): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = clock.setTimeout(() => reject(onTimeout()), ms);
    work.then(
      (value) => {
        clock.clearTimeout(timer);
        resolve(value);
      },
      (err: unknown) => {
        clock.clearTimeout(timer);
        reject(err);
      },
    );
  });
}

function parseDocument(text: string): InstanceIdentityDocument {
  let doc: Record<string, unknown> | undefined;
  try {
    doc = JSON.parse(text) as Record<string, unknown>;
  } catch {
    doc = undefined;
  }
  const fields = ['instanceId', 'region', 'availabilityZone', 'imageId'] as const;
  const missing = fields.filter((key) => typeof doc?.[key] !== 'string' || doc[key] === '');
  if (!doc || missing.length > 0) {
    throw new GovError('GOV_ERR_CLOUD_UNAVAILABLE', `IMDS returned an identity document without ${missing.join(', ') || 'JSON'}`, {
      imds: true,
      missing,
    });
  }
  return { instanceId: doc.instanceId as string, region: doc.region as string, availabilityZone: doc.availabilityZone as string, imageId: doc.imageId as string };
}

/**
 * Reads this instance's identity (instance id, region, availability zone, image id) from its
 * IMDSv2 identity document. Contract: IMDSv2 only (a token is always fetched; no IMDSv1
 * fallback); the whole read, retries included, is bounded by `timeoutMs` on `clock` and then
 * rejects with GOV_ERR_CLOUD_IMDS_TIMEOUT; any other failure rejects with
 * GOV_ERR_CLOUD_UNAVAILABLE (details.imds = true).
 */
export async function readInstanceIdentity(opts: ImdsOptions): Promise<InstanceIdentityDocument> {
  const { endpoint, timeoutMs, clock } = opts;
  const imds = new MetadataService({
    endpoint,
    httpOptions: { timeout: timeoutMs },
    ec2MetadataV1Disabled: true,
    retries: RETRIES,
    backoff: (failures) => clock.sleep(RETRY_BASE_MS * 2 ** failures),
    tokenTtl: TOKEN_TTL_SECONDS,
  });
  // The SDK appends the path to the endpoint's path as is: avoid a double slash.
  const path = endpoint === undefined || new URL(endpoint).pathname.endsWith('/') ? IDENTITY_DOCUMENT : `/${IDENTITY_DOCUMENT}`;
  const timedOut = () =>
    new GovError('GOV_ERR_CLOUD_IMDS_TIMEOUT', `IMDS did not answer within ${timeoutMs} ms`, { imds: true, endpoint, timeoutMs });
  let text: string;
  try {
    text = await withDeadline(imds.request(path, {}), timeoutMs, clock, timedOut);
  } catch (err) {
    if (err instanceof GovError) throw err;
    const { message } = describeError(err);
    if (/timeout/i.test(message)) throw timedOut();
    throw new GovError('GOV_ERR_CLOUD_UNAVAILABLE', `IMDS identity read failed: ${message}`, { imds: true, endpoint }, { cause: err });
  }
  return parseDocument(text);
}
