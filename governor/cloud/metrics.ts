import type { Logger } from 'pino';
import type { GovernorConfig } from '../config-types.js';

/** Units the governor publishes (a subset of CloudWatch's StandardUnit). */
export type MetricUnit = 'Percent' | 'Count' | 'Count/Second' | 'Milliseconds';

/** One data point: what the publish-metrics task measures, free of any SDK type. */
export interface MetricDatum {
  name: string;
  value: number;
  unit: MetricUnit;
  /** Dimension name -> value, e.g. { Fleet: 'edge', InstanceId: 'i-0abc' }. */
  dimensions: Readonly<Record<string, string>>;
  /** Milliseconds since the epoch (the governor's clock). */
  at: number;
}

/**
 * Sends metric data somewhere (CloudWatch: ./cloudwatch.ts). Contract: `publish` sends all
 * `datums` in one request or rejects with a GovError (GOV_ERR_CLOUD_*); it never retries beyond
 * its own bounded timeout, and stops when `signal` aborts.
 */
export interface MetricsPublisher {
  publish(datums: readonly MetricDatum[], signal?: AbortSignal): Promise<void>;
}

/** Static credentials (tests, LocalStack); on EC2 none are passed and the instance role is used. */
export interface StaticCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** Whether and where metrics go, decided from the config alone. */
export type MetricsTarget =
  | { enabled: false; reason: string }
  | { enabled: true; endpoint?: string; credentials?: StaticCredentials };

/** Credentials for an endpoint override in the local region: the environment's, else placeholders. */
function localCredentials(env: NodeJS.ProcessEnv): StaticCredentials {
  const { AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey, AWS_SESSION_TOKEN: sessionToken } = env;
  if (accessKeyId && secretAccessKey) return sessionToken ? { accessKeyId, secretAccessKey, sessionToken } : { accessKeyId, secretAccessKey };
  return { accessKeyId: 'local', secretAccessKey: 'local' };
}

/**
 * metrics.enabled false: off. With the ec2 adapter: on (the instance role's credentials). With
 * the local adapter: on only when metrics.endpoint is set, with static credentials (from the
 * environment, else placeholders), so a local region never asks the instance metadata service.
 */
export function metricsTarget(config: GovernorConfig, env: NodeJS.ProcessEnv = process.env): MetricsTarget {
  const { enabled, endpoint } = config.metrics;
  if (enabled === false) return { enabled: false, reason: 'metrics disabled: metrics.enabled is false' };
  if (config.cloud.adapter === 'ec2') return endpoint ? { enabled: true, endpoint } : { enabled: true };
  if (!endpoint) return { enabled: false, reason: "metrics disabled: the local adapter publishes only to a metrics.endpoint, and none is set" };
  return { enabled: true, endpoint, credentials: localCredentials(env) };
}

/**
 * A CloudWatch publisher for an enabled target. The SDK is imported here, on first use, so a
 * governor without metrics never loads it.
 */
export async function openCloudWatch(
  config: GovernorConfig,
  target: Extract<MetricsTarget, { enabled: true }>,
  region: string,
  log: Logger,
): Promise<MetricsPublisher> {
  const { CloudWatchPublisher } = await import('./cloudwatch.js');
  return new CloudWatchPublisher({
    namespace: config.metrics.namespace,
    region,
    endpoint: target.endpoint,
    credentials: target.credentials,
    storageResolution: config.metrics.storageResolution,
    timeoutMs: config.metrics.timeoutMs,
    log,
  });
}
