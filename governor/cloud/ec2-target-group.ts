import {
  DeregisterTargetsCommand,
  ElasticLoadBalancingV2Client,
  RegisterTargetsCommand,
  waitUntilTargetDeregistered,
  type ElasticLoadBalancingV2ClientConfig,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { ec2CloudError } from './ec2-errors.js';

export interface TargetGroupOptions {
  /** The target group's ARN (an Application or Network Load Balancer's). */
  arn: string;
  region: string;
  /** Elastic Load Balancing API endpoint (http(s) URL); default: the region's public endpoint. */
  endpoint?: string;
  credentials?: ElasticLoadBalancingV2ClientConfig['credentials'];
  /** Attempts per call in the SDK's standard retry mode. */
  maxAttempts: number;
  /**
   * How long `deregister` waits, at most, for the load balancer to finish with the target (its
   * deregistration delay: in-flight requests drain, then the target is `unused`).
   */
  deregistrationWaitMs: number;
  /** Shortest pause between two target-health checks while waiting, seconds (the SDK waiter's minDelay; default 5). */
  pollSeconds?: number;
}

/** How a deregistration ended: the target is gone from the group, or the wait ran out first. */
export type Deregistration = 'deregistered' | 'still-draining';

const DEFAULT_POLL_SECONDS = 5;

/**
 * This instance's membership of a load balancer's target group (optional; `cloud.ec2.targetGroupArn`):
 * `register` when its proxy is ready, `deregister` when it starts leaving, so that the balancer
 * stops sending it new requests and its deregistration delay becomes part of the controlled
 * shutdown. The target is the instance id and the proxy's port. Failures are coded cloud errors
 * (GOV_ERR_CLOUD_*), with the port method in their details.
 */
export class TargetGroupMembership {
  private readonly elb: ElasticLoadBalancingV2Client;

  constructor(
    private readonly opts: TargetGroupOptions,
    private readonly instanceId: string,
  ) {
    this.elb = new ElasticLoadBalancingV2Client({
      region: opts.region,
      ...(opts.endpoint === undefined ? {} : { endpoint: opts.endpoint }),
      ...(opts.credentials === undefined ? {} : { credentials: opts.credentials }),
      retryMode: 'standard',
      maxAttempts: opts.maxAttempts,
    });
  }

  get arn(): string {
    return this.opts.arn;
  }

  /** RegisterTargets of this instance on `port` (registering again is harmless: the API is idempotent). */
  async register(port: number, method: string): Promise<void> {
    try {
      await this.elb.send(new RegisterTargetsCommand({ TargetGroupArn: this.opts.arn, Targets: [{ Id: this.instanceId, Port: port }] }));
    } catch (err) {
      throw ec2CloudError(method, err);
    }
  }

  /**
   * DeregisterTargets of this instance on `port`, then waits (by the SDK's waiter, polling
   * DescribeTargetHealth) until the balancer reports it unused or not registered, at most
   * deregistrationWaitMs.
   */
  async deregister(port: number, method: string): Promise<Deregistration> {
    const target = { TargetGroupArn: this.opts.arn, Targets: [{ Id: this.instanceId, Port: port }] };
    try {
      await this.elb.send(new DeregisterTargetsCommand(target));
    } catch (err) {
      throw ec2CloudError(method, err);
    }
    const pollSeconds = this.opts.pollSeconds ?? DEFAULT_POLL_SECONDS;
    const maxWaitTime = Math.max(pollSeconds + 1, Math.floor(this.opts.deregistrationWaitMs / 1000));
    try {
      await waitUntilTargetDeregistered(
        { client: this.elb, maxWaitTime, minDelay: pollSeconds, maxDelay: Math.max(pollSeconds, 15) },
        target,
      );
      return 'deregistered';
    } catch (err) {
      if ((err as { name?: string }).name === 'TimeoutError') return 'still-draining';
      throw ec2CloudError(method, err);
    }
  }

  close(): void {
    this.elb.destroy();
  }
}
