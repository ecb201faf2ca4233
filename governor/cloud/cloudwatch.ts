import { CloudWatchClient, PutMetricDataCommand, type StandardUnit } from '@aws-sdk/client-cloudwatch';
import type { Logger } from 'pino';
import { GovError } from '../errors.js';
import { ec2CloudError } from './ec2-errors.js';
import type { MetricDatum, MetricsPublisher, StaticCredentials } from './metrics.js';

export interface CloudWatchPublisherOptions {
  namespace: string;
  region: string;
  /** Endpoint override (a fake, LocalStack); default: the region's public endpoint. */
  endpoint?: string;
  /** Default: the SDK's provider chain (on EC2, the instance role). */
  credentials?: StaticCredentials;
  /** 60 = standard resolution, 1 = high resolution. */
  storageResolution: 60 | 1;
  /** Bound on one publish, retries included (default 10 s). */
  timeoutMs?: number;
  log: Logger;
}

/** CloudWatch accepts at most this many datums in one PutMetricData request. */
export const MAX_DATUMS_PER_REQUEST = 1000;

/** Attempts per publish: one retry; the next run comes soon anyway. */
const MAX_ATTEMPTS = 2;

/**
 * Publishes metric data to CloudWatch: one PutMetricData request per `publish`, every datum with
 * the configured storage resolution. Contract: a failure rejects with a GOV_ERR_CLOUD_* GovError
 * (classified like the ec2 adapter's: throttled, auth, bad request, unavailable) whose message
 * names the AWS error and the endpoint, and whose details carry the HTTP status; a call takes
 * at most about `timeoutMs`.
 */
export class CloudWatchPublisher implements MetricsPublisher {
  private readonly client: CloudWatchClient;
  private readonly where: string;

  constructor(private readonly opts: CloudWatchPublisherOptions) {
    const perAttemptMs = Math.max(1, Math.floor((opts.timeoutMs ?? 10_000) / MAX_ATTEMPTS));
    this.client = new CloudWatchClient({
      region: opts.region,
      endpoint: opts.endpoint,
      credentials: opts.credentials,
      maxAttempts: MAX_ATTEMPTS,
      requestHandler: { connectionTimeout: perAttemptMs, requestTimeout: perAttemptMs, throwOnRequestTimeout: true },
    });
    this.where = opts.endpoint ?? `CloudWatch in ${opts.region}`;
  }

  async publish(datums: readonly MetricDatum[], signal?: AbortSignal): Promise<void> {
    if (datums.length === 0) return;
    if (datums.length > MAX_DATUMS_PER_REQUEST) {
      throw new GovError('GOV_ERR_CLOUD_BAD_REQUEST', `PutMetricData takes at most ${MAX_DATUMS_PER_REQUEST} datums; got ${datums.length}`, {
        datums: datums.length,
      });
    }
    const command = new PutMetricDataCommand({
      Namespace: this.opts.namespace,
      MetricData: datums.map((d) => ({
        MetricName: d.name,
        Dimensions: Object.entries(d.dimensions).map(([Name, Value]) => ({ Name, Value })),
        Timestamp: new Date(d.at),
        Value: d.value,
        Unit: d.unit as StandardUnit,
        StorageResolution: this.opts.storageResolution,
      })),
    });
    try {
      await this.client.send(command, { abortSignal: signal });
      this.opts.log.debug({ namespace: this.opts.namespace, datums: datums.length }, 'PutMetricData sent');
    } catch (err) {
      const error = ec2CloudError('PutMetricData', err);
      throw new GovError(error.code, `${error.message} (${this.where})`, { ...error.details, endpoint: this.where }, { cause: err });
    }
  }
}
