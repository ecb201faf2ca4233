import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { FakeAwsError, LoopbackFake } from './loopback-fake.js';
import { el, field, items, parseQuery, type QueryNode, type Xml } from './query-xml.js';

/**
 * A fake of the Elastic Load Balancing v2 API (target groups only) speaking its wire protocol
 * (AWS Query: form-encoded POST, `.member.N` lists, XML responses, `<ErrorResponse>` errors), for
 * the real SDK on 127.0.0.1: RegisterTargets, DeregisterTargets and DescribeTargetHealth over
 * target groups created with `addTargetGroup`. A registered target is `healthy`; a deregistered
 * one is `draining` for the next `drainingChecks` DescribeTargetHealth calls, then `unused` and
 * gone; a target not in the group is `unused` (Target.NotRegistered), as AWS reports them.
 */

export interface ElbCall {
  action: string;
  params: Record<string, string>;
}

interface Target {
  state: 'healthy' | 'draining';
  /** Describe calls left before a draining target is gone. */
  checksLeft: number;
}

const NAMESPACE = 'http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/';
const SCOPE = /Credential=[^/,\s]+\/\d{8}\/([^/]+)\/elasticloadbalancing\/aws4_request/;

export class FakeElbServer extends LoopbackFake {
  readonly calls: ElbCall[] = [];
  /** How many DescribeTargetHealth calls a deregistered target stays draining. */
  drainingChecks = 0;
  private readonly groups = new Map<string, Map<string, Target>>();
  private readonly failures: Array<{ code: string; status: number }> = [];

  static start(): Promise<FakeElbServer> {
    return new FakeElbServer().listen();
  }

  addTargetGroup(arn: string): void {
    this.groups.set(arn, new Map());
  }

  /** The group's targets as "id:port" -> state. */
  targets(arn: string): Record<string, string> {
    return Object.fromEntries([...(this.groups.get(arn) ?? [])].map(([key, t]) => [key, t.state]));
  }

  /** The next `count` calls fail with `code` and HTTP `status`. */
  failNext(count: number, code: string, status = 400): void {
    for (let i = 0; i < count; i++) this.failures.push({ code, status });
  }

  protected async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const requestId = randomUUID();
    try {
      if (req.method !== 'POST') throw new FakeAwsError('InvalidAction', `Elastic Load Balancing takes POST requests; got ${req.method}`);
      if (!SCOPE.test(req.headers.authorization ?? '')) throw new FakeAwsError('MissingAuthenticationToken', 'Request is missing Authentication Token', 403);
      const { flat, tree } = parseQuery(Buffer.concat(chunks).toString('utf8'));
      const action = flat.get('Action') ?? '';
      this.calls.push({ action, params: Object.fromEntries(flat) });
      const failure = this.failures.shift();
      if (failure) throw new FakeAwsError(failure.code, `injected ${failure.code}`, failure.status);
      const result = this.dispatch(action, tree);
      const body = el(`${action}Response`, el(`${action}Result`, ...result), el('ResponseMetadata', el('RequestId', requestId)));
      this.reply(res, 200, body.xml.replace(`<${action}Response>`, `<${action}Response xmlns="${NAMESPACE}">`));
    } catch (err) {
      const e = err instanceof FakeAwsError ? err : new FakeAwsError('InternalFailure', `fake ELB failed: ${(err as Error).message}`, 500);
      const body = el('ErrorResponse', el('Error', el('Type', e.status >= 500 ? 'Receiver' : 'Sender'), el('Code', e.code), el('Message', e.message)), el('RequestId', requestId));
      this.reply(res, e.status, body.xml.replace('<ErrorResponse>', `<ErrorResponse xmlns="${NAMESPACE}">`));
    }
  }

  private reply(res: ServerResponse, status: number, xml: string): void {
    const text = `<?xml version="1.0" encoding="UTF-8"?>\n${xml}`;
    res.writeHead(status, { 'content-type': 'text/xml', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }

  private dispatch(action: string, q: Record<string, QueryNode>): Xml[] {
    const group = this.groups.get(String(q.TargetGroupArn ?? ''));
    if (!group) throw new FakeAwsError('TargetGroupNotFound', `One or more target groups not found: ${String(q.TargetGroupArn)}`);
    const targets = items((q.Targets as Record<string, QueryNode> | undefined)?.member).map((t) => {
      const id = field(t, 'Id');
      if (!id) throw new FakeAwsError('ValidationError', 'Targets.member.N.Id is required');
      return { id, port: field(t, 'Port') ?? '80' };
    });
    switch (action) {
      case 'RegisterTargets':
        if (targets.length === 0) throw new FakeAwsError('ValidationError', 'Targets is required');
        for (const t of targets) group.set(`${t.id}:${t.port}`, { state: 'healthy', checksLeft: 0 });
        return [];
      case 'DeregisterTargets':
        for (const t of targets) {
          const target = group.get(`${t.id}:${t.port}`);
          if (!target) throw new FakeAwsError('InvalidTarget', `The following targets are not registered in target group: ${t.id}`);
          Object.assign(target, { state: 'draining', checksLeft: this.drainingChecks });
        }
        return [];
      case 'DescribeTargetHealth':
        return [el('TargetHealthDescriptions', ...targets.map((t) => this.health(group, t.id, t.port)))];
      default:
        throw new FakeAwsError('InvalidAction', `The fake supports RegisterTargets, DeregisterTargets and DescribeTargetHealth; got ${action}`);
    }
  }

  private health(group: Map<string, Target>, id: string, port: string): Xml {
    const key = `${id}:${port}`;
    const target = group.get(key);
    if (target?.state === 'draining' && target.checksLeft-- <= 0) group.delete(key);
    const now = group.get(key);
    const state = now?.state ?? 'unused';
    const reason = state === 'draining' ? 'Target.DeregistrationInProgress' : state === 'unused' ? 'Target.NotRegistered' : undefined;
    return el('member', el('Target', el('Id', id), el('Port', port)), el('TargetHealth', el('State', state), ...(reason ? [el('Reason', reason)] : [])));
  }
}
