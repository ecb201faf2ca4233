import type { Logger } from 'pino';
import type { Clock } from '../clock.js';
import type { GovernorConfig } from '../config-types.js';
import { deepFreeze } from '../config.js';
import { Ec2Cloud } from './ec2.js';
import { LocalCloud } from './local.js';
import type { Cloud } from './port.js';
import { LocalRegistry } from './registry.js';
import { selfReplicationSpec } from './spawn.js';

export interface InstanceCloud {
  cloud: Cloud;
  /** The config with the region the cloud reports (EC2: from the instance identity). */
  config: GovernorConfig;
  id: string;
}

/**
 * The Cloud port for this process, chosen by `config.cloud.adapter`. Local: this instance's
 * record in the state directory (registered now when `instanceId` is absent), launches copy
 * this very process. EC2: identity from IMDSv2, and the region of the identity replaces the
 * configured one (launch tokens and fleet listings are per region).
 */
export async function createInstanceCloud(opts: {
  config: GovernorConfig;
  clock: Clock;
  log: Logger;
  instanceId?: string;
}): Promise<InstanceCloud> {
  const { config, clock, log } = opts;
  if (config.cloud.adapter === 'ec2') {
    const { endpoint, imdsEndpoint, imdsTimeoutMs, targetGroupArn, elbEndpoint, deregistrationWaitMs } = config.cloud.ec2;
    const targetGroup = targetGroupArn === undefined ? undefined : { arn: targetGroupArn, endpoint: elbEndpoint, deregistrationWaitMs };
    const cloud = await Ec2Cloud.create({ fleet: config.fleet, clock, log, endpoint, imdsEndpoint, imdsTimeoutMs, targetGroup });
    const identity = await cloud.identity();
    return { cloud, id: identity.id, config: deepFreeze({ ...config, region: identity.region }) };
  }
  const id =
    opts.instanceId ??
    (await new LocalRegistry(config.stateDir).createInstance({ fleet: config.fleet, region: config.region, launchedBy: 'operator' })).id;
  const cloud = new LocalCloud({
    stateDir: config.stateDir,
    fleet: config.fleet,
    region: config.region,
    selfId: id,
    clock,
    log,
    spawn: selfReplicationSpec(),
  });
  return { cloud, id, config };
}
