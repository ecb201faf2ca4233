import type { IncomingMessage, ServerResponse } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { FakeAwsError, LoopbackFake } from './loopback-fake.js';

/**
 * A fake CloudWatch on 127.0.0.1 for PutMetricData, in the protocol the installed
 * @aws-sdk/client-cloudwatch speaks: awsJson1_0 with AWS Query compatibility (POST /,
 * `Content-Type: application/x-amz-json-1.0`, `X-Amz-Target: GraniteServiceVersion20100801.<Op>`,
 * a JSON body, gzip-compressed when the SDK compresses it; errors as JSON `__type` plus the
 * `x-amzn-query-error: <Code>;<Sender|Receiver>` header). Timestamps arrive as epoch seconds.
 * Every accepted PutMetricData is recorded for assertions.
 */

export interface MetricDatumRecord {
  MetricName: string;
  Dimensions?: { Name: string; Value: string }[];
  Timestamp?: number;
  Value?: number;
  Values?: number[];
  Counts?: number[];
  StatisticValues?: { SampleCount: number; Sum: number; Minimum: number; Maximum: number };
  Unit?: string;
  StorageResolution?: number;
}

export interface PutMetricDataRecord {
  region: string;
  namespace: string;
  metricData: MetricDatumRecord[];
  gzipped: boolean;
}

export interface CloudWatchFailure {
  code: string;
  status: number;
  message?: string;
}

const TARGET_PREFIX = 'GraniteServiceVersion20100801.';
const SCOPE = /Credential=[^/,\s]+\/\d{8}\/([^/]+)\/monitoring\/aws4_request/;
const MAX_DATUMS = 1000;

export class FakeCloudWatchServer extends LoopbackFake {
  readonly received: PutMetricDataRecord[] = [];
  private readonly failures: CloudWatchFailure[] = [];

  static start(): Promise<FakeCloudWatchServer> {
    return new FakeCloudWatchServer().listen();
  }

  /** The next `count` calls fail with `failure`, recording nothing. */
  failNext(count: number, failure: CloudWatchFailure): void {
    for (let i = 0; i < count; i++) this.failures.push(failure);
  }

  protected async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    try {
      const region = SCOPE.exec(req.headers.authorization ?? '')?.[1];
      if (!region) throw new FakeAwsError('MissingAuthenticationToken', 'Request is missing Authentication Token', 403);
      const target = String(req.headers['x-amz-target'] ?? '');
      if (req.method !== 'POST' || !String(req.headers['content-type']).startsWith('application/x-amz-json-1.0')) {
        throw new FakeAwsError('InvalidAction', 'CloudWatch takes POST application/x-amz-json-1.0 requests');
      }
      const failure = this.failures.shift();
      if (failure) throw new FakeAwsError(failure.code, failure.message ?? `injected ${failure.code}`, failure.status);
      if (target !== `${TARGET_PREFIX}PutMetricData`) throw new FakeAwsError('InvalidAction', `The fake supports PutMetricData only; got ${target}`);
      const gzipped = req.headers['content-encoding'] === 'gzip';
      const raw = Buffer.concat(chunks);
      const input = JSON.parse((gzipped ? gunzipSync(raw) : raw).toString('utf8')) as { Namespace?: unknown; MetricData?: unknown };
      if (typeof input.Namespace !== 'string' || input.Namespace === '') throw new FakeAwsError('MissingParameter', 'The parameter Namespace is required.');
      if (!Array.isArray(input.MetricData) || input.MetricData.length === 0 || input.MetricData.length > MAX_DATUMS) {
        throw new FakeAwsError('InvalidParameterValue', `MetricData must hold 1-${MAX_DATUMS} datums.`);
      }
      for (const datum of input.MetricData as MetricDatumRecord[]) {
        if (typeof datum?.MetricName !== 'string') throw new FakeAwsError('MissingParameter', 'The parameter MetricData.member.MetricName is required.');
      }
      this.received.push({ region, namespace: input.Namespace, metricData: input.MetricData as MetricDatumRecord[], gzipped });
      this.reply(res, 200, {}, {});
    } catch (err) {
      const e = err instanceof FakeAwsError ? err : new FakeAwsError('InternalServiceError', `fake CloudWatch failed: ${(err as Error).message}`, 500);
      this.reply(res, e.status, { __type: `com.amazonaws.cloudwatch#${e.code}`, message: e.message }, {
        'x-amzn-query-error': `${e.code};${e.status >= 500 ? 'Receiver' : 'Sender'}`,
      });
    }
  }

  private reply(res: ServerResponse, status: number, body: object, headers: Record<string, string>): void {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/x-amz-json-1.0', 'content-length': Buffer.byteLength(text), ...headers });
    res.end(text);
  }
}
