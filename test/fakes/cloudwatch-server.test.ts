import { CloudWatchClient, PutMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CREDENTIALS, REGION, loopback } from '../cloud/ec2-harness.js';
import { FakeCloudWatchServer } from './cloudwatch-server.js';

describe('FakeCloudWatchServer with the real CloudWatch SDK client', () => {
  let fake: FakeCloudWatchServer;
  let client: CloudWatchClient;

  beforeEach(async () => {
    fake = await FakeCloudWatchServer.start();
    client = new CloudWatchClient({ region: REGION, endpoint: loopback(fake.url), credentials: CREDENTIALS, maxAttempts: 1 });
  });
  afterEach(async () => {
    client.destroy();
    await fake.close();
  });

  it('records PutMetricData as the SDK sends it (JSON 1.0, timestamps in epoch seconds)', async () => {
    await client.send(
      new PutMetricDataCommand({
        Namespace: 'Governor',
        MetricData: [
          { MetricName: 'Busy', Value: 0.5, Unit: 'None', Timestamp: new Date('2026-01-01T00:00:10Z'), Dimensions: [{ Name: 'Fleet', Value: 'edge' }] },
        ],
      }),
    );
    expect(fake.received).toEqual([
      {
        region: REGION,
        namespace: 'Governor',
        gzipped: false,
        metricData: [{ MetricName: 'Busy', Value: 0.5, Unit: 'None', Timestamp: 1767225610, Dimensions: [{ Name: 'Fleet', Value: 'edge' }] }],
      },
    ]);
  });

  it('reads gzip-compressed requests (the SDK compresses large ones)', async () => {
    const data = Array.from({ length: 400 }, (_, i) => ({ MetricName: `Metric${i}`, Value: i, Dimensions: [{ Name: 'Instance', Value: `i-${i}` }] }));
    await client.send(new PutMetricDataCommand({ Namespace: 'Governor', MetricData: data }));
    expect(fake.received[0].gzipped).toBe(true);
    expect(fake.received[0].metricData).toHaveLength(400);
  });

  it('fails as told, with the error code the SDK reports', async () => {
    fake.failNext(1, { code: 'Throttling', status: 400, message: 'Rate exceeded' });
    const err = await client.send(new PutMetricDataCommand({ Namespace: 'Governor', MetricData: [{ MetricName: 'Busy', Value: 1 }] })).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'Throttling', message: 'Rate exceeded', $metadata: { httpStatusCode: 400 } });
    expect(fake.received).toEqual([]);
  });
});
