import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { LoopbackFake } from './loopback-fake.js';

/**
 * A fake EC2 instance metadata service, IMDSv2 only, on 127.0.0.1: `PUT /latest/api/token` with
 * `X-aws-ec2-metadata-token-ttl-seconds` (1-21600) issues a token; every GET must carry a valid,
 * unexpired `X-aws-ec2-metadata-token` (else 401). It serves the identity document and the
 * meta-data paths below for one instance. `hang()` makes it accept requests and never answer.
 */

export interface FakeImdsIdentity {
  instanceId: string;
  region: string;
  availabilityZone: string;
  imageId: string;
  instanceType?: string;
}

export interface ImdsRequest {
  method: string;
  path: string;
  status: number | 'hung';
}

const MAX_TTL_SECONDS = 21_600;

export class FakeImdsServer extends LoopbackFake {
  readonly requests: ImdsRequest[] = [];
  private readonly tokens = new Map<string, number>();
  private readonly hanging = new Set<ServerResponse>();
  private hung = false;

  private constructor(
    private readonly identity: FakeImdsIdentity,
    private readonly now: () => number,
  ) {
    super();
  }

  static start(identity: FakeImdsIdentity, now: () => number = Date.now): Promise<FakeImdsServer> {
    return new FakeImdsServer(identity, now).listen();
  }

  /** From now on, requests are held open without an answer (until close). */
  hang(): void {
    this.hung = true;
  }

  override async close(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    await super.close();
  }

  private paths(): Record<string, string> {
    const id = this.identity;
    return {
      '/latest/meta-data/instance-id': id.instanceId,
      '/latest/meta-data/ami-id': id.imageId,
      '/latest/meta-data/instance-type': id.instanceType ?? 't3.micro',
      '/latest/meta-data/placement/region': id.region,
      '/latest/meta-data/placement/availability-zone': id.availabilityZone,
      '/latest/dynamic/instance-identity/document': JSON.stringify(
        {
          accountId: '123456789012',
          architecture: 'x86_64',
          availabilityZone: id.availabilityZone,
          imageId: id.imageId,
          instanceId: id.instanceId,
          instanceType: id.instanceType ?? 't3.micro',
          pendingTime: '2026-01-01T00:00:00Z',
          privateIp: '10.0.0.1',
          region: id.region,
          version: '2017-09-30',
        },
        null,
        2,
      ),
    };
  }

  protected handle(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '').split('?')[0];
    const record: ImdsRequest = { method: req.method ?? '', path, status: 'hung' };
    this.requests.push(record);
    req.resume();
    if (this.hung) {
      this.hanging.add(res);
      return;
    }
    const answer = (status: number, body = '') => {
      record.status = status;
      res.writeHead(status, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    };
    if (path === '/latest/api/token') {
      if (req.method !== 'PUT') return answer(405);
      if (req.headers['x-forwarded-for'] !== undefined) return answer(403);
      const ttl = Number(req.headers['x-aws-ec2-metadata-token-ttl-seconds']);
      if (!Number.isInteger(ttl) || ttl < 1 || ttl > MAX_TTL_SECONDS) return answer(400);
      const token = randomBytes(24).toString('base64');
      this.tokens.set(token, this.now() + ttl * 1000);
      return answer(200, token);
    }
    if (req.method !== 'GET') return answer(405);
    const token = req.headers['x-aws-ec2-metadata-token'];
    const expiry = typeof token === 'string' ? this.tokens.get(token) : undefined;
    if (expiry === undefined || expiry <= this.now()) return answer(401);
    const body = this.paths()[path];
    return body === undefined ? answer(404) : answer(200, body);
  }
}
