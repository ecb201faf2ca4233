import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CloudWatchPublisher, MAX_DATUMS_PER_REQUEST } from '../../governor/cloud/cloudwatch.js';
import type { MetricDatum } from '../../governor/cloud/metrics.js';
import { isGovError, type GovError } from '../../governor/errors.js';
import { FakeCloudWatchServer } from '../fakes/cloudwatch-server.js';

const credentials = { accessKeyId: 'AKIDTEST', secretAccessKey: 'secret' };
const log = pino({ level: 'silent' });
const AT = Date.UTC(2026, 0, 1, 12, 0, 0);

function datum(over: Partial<MetricDatum> = {}): MetricDatum {
  return { name: 'Busy', value: 42.5, unit: 'Percent', dimensions: { Fleet: 'edge', InstanceId: 'i-1' }, at: AT, ...over };
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

/** A server that accepts connections and never answers. */
async function silentServer(): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer(() => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('CloudWatchPublisher against a fake CloudWatch', () => {
  let fake: FakeCloudWatchServer;
  const publisher = (over: Partial<ConstructorParameters<typeof CloudWatchPublisher>[0]> = {}) =>
    new CloudWatchPublisher({ namespace: 'Governor', region: 'eu-west-1', endpoint: fake.url, credentials, storageResolution: 60, log, ...over });

  beforeEach(async () => {
    fake = await FakeCloudWatchServer.start();
  });
  afterEach(async () => {
    await fake.close();
  });

  it('sends every datum in one PutMetricData, signed for the region, with the storage resolution', async () => {
    await publisher({ storageResolution: 1, namespace: 'Edge/Prod' }).publish([
      datum(),
      datum({ name: 'Http5xx', value: 3, unit: 'Count', dimensions: { Fleet: 'edge' } }),
    ]);
    expect(fake.received).toHaveLength(1);
    const [call] = fake.received;
    expect(call.region).toBe('eu-west-1');
    expect(call.namespace).toBe('Edge/Prod');
    expect(call.metricData).toEqual([
      {
        MetricName: 'Busy',
        Dimensions: [
          { Name: 'Fleet', Value: 'edge' },
          { Name: 'InstanceId', Value: 'i-1' },
        ],
        Timestamp: AT / 1000,
        Value: 42.5,
        Unit: 'Percent',
        StorageResolution: 1,
      },
      { MetricName: 'Http5xx', Dimensions: [{ Name: 'Fleet', Value: 'edge' }], Timestamp: AT / 1000, Value: 3, Unit: 'Count', StorageResolution: 1 },
    ]);
  });

  it('sends nothing for an empty batch and refuses one CloudWatch would refuse', async () => {
    await publisher().publish([]);
    const tooMany = Array.from({ length: MAX_DATUMS_PER_REQUEST + 1 }, () => datum());
    const err = await rejection(publisher().publish(tooMany));
    expect(isGovError(err, 'GOV_ERR_CLOUD_BAD_REQUEST')).toBe(true);
    expect(fake.received).toHaveLength(0);
  });

  it('retries a 500 once, then rejects with GOV_ERR_CLOUD_UNAVAILABLE naming the error and the endpoint', async () => {
    fake.failNext(1, { code: 'InternalServiceError', status: 500 });
    await publisher().publish([datum()]);
    expect(fake.received).toHaveLength(1);

    fake.failNext(2, { code: 'InternalServiceError', status: 500, message: 'try later' });
    const err = await rejection(publisher().publish([datum()]));
    expect(isGovError(err, 'GOV_ERR_CLOUD_UNAVAILABLE')).toBe(true);
    expect(err.message).toMatch(/PutMetricData: InternalService\w+: try later/);
    expect(err.message).toContain(fake.url);
    expect((err as GovError).details).toMatchObject({ httpStatus: 500, endpoint: fake.url });
    expect(fake.received).toHaveLength(1);
  });

  it('classifies throttling and bad input', async () => {
    fake.failNext(2, { code: 'Throttling', status: 400, message: 'Rate exceeded' });
    expect(isGovError(await rejection(publisher().publish([datum()])), 'GOV_ERR_CLOUD_THROTTLED')).toBe(true);
    fake.failNext(1, { code: 'InvalidParameterValue', status: 400, message: 'bad value' });
    expect(isGovError(await rejection(publisher().publish([datum()])), 'GOV_ERR_CLOUD_BAD_REQUEST')).toBe(true);
  });

  it('rejects a refused connection with GOV_ERR_CLOUD_UNAVAILABLE', async () => {
    const closed = await silentServer();
    await closed.close();
    const err = await rejection(publisher({ endpoint: closed.url }).publish([datum()]));
    expect(isGovError(err, 'GOV_ERR_CLOUD_UNAVAILABLE')).toBe(true);
    expect(err.message).toContain('ECONNREFUSED');
  });

  it('gives up on an endpoint that never answers within about timeoutMs', async () => {
    const silent = await silentServer();
    try {
      const started = Date.now();
      const err = await rejection(publisher({ endpoint: silent.url, timeoutMs: 400 }).publish([datum()]));
      expect(isGovError(err)).toBe(true);
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      await silent.close();
    }
  });

  it('stops when the signal aborts', async () => {
    const silent = await silentServer();
    try {
      const controller = new AbortController();
      const pending = publisher({ endpoint: silent.url, timeoutMs: 60_000 }).publish([datum()], controller.signal);
      setTimeout(() => controller.abort(new Error('stopping')), 50);
      const err = await rejection(pending);
      expect(isGovError(err)).toBe(true);
    } finally {
      await silent.close();
    }
  });
});
