import {
  DescribeInstanceAttributeCommand,
  DescribeInstancesCommand,
  type EC2Client,
  type Instance,
  type InstanceMetadataOptionsRequest,
  type RunInstancesCommandInput,
  type Tag,
} from '@aws-sdk/client-ec2';
import { GovError } from '../errors.js';
import { GOVERNOR_TAG_PREFIX, TAG } from './ec2-tags.js';
import type { LaunchRequest } from './port.js';

/**
 * What a launch copies from the launching instance (DESIGN.md "Self-replication"): same image,
 * instance type, network placement, security groups, instance profile, key pair, metadata
 * options, user data and the operator's own tags.
 */
export interface CloneSpec {
  imageId: string;
  instanceType: string;
  subnetId?: string;
  securityGroupIds: string[];
  iamInstanceProfileArn?: string;
  keyName?: string;
  metadataOptions: InstanceMetadataOptionsRequest;
  /** Base64, exactly as DescribeInstanceAttribute returned it. */
  userData?: string;
  /** The instance's tags except the governor's (governor:*) and AWS's reserved (aws:*) ones. */
  tags: Tag[];
}

/** EC2's own default, used only when DescribeInstances reports no hop limit (ami/iam-policy.json allows at most 1). */
const DEFAULT_HOP_LIMIT = 1;

function copiedTags(tags: Tag[] | undefined): Tag[] {
  return (tags ?? []).filter((t) => t.Key !== undefined && !t.Key.startsWith(GOVERNOR_TAG_PREFIX) && !t.Key.startsWith('aws:'));
}

/** The clone spec of `instance` with `userData` (base64, if any). */
export function cloneSpecOf(instance: Instance, userData: string | undefined): CloneSpec {
  if (!instance.ImageId || !instance.InstanceType) {
    throw new GovError('GOV_ERR_CLOUD_UNAVAILABLE', `DescribeInstances returned instance ${instance.InstanceId} without its image or instance type`, {
      id: instance.InstanceId,
    });
  }
  const metadata = instance.MetadataOptions;
  return {
    imageId: instance.ImageId,
    instanceType: instance.InstanceType,
    subnetId: instance.SubnetId,
    securityGroupIds: (instance.SecurityGroups ?? []).flatMap((g) => (g.GroupId ? [g.GroupId] : [])),
    iamInstanceProfileArn: instance.IamInstanceProfile?.Arn,
    keyName: instance.KeyName,
    // IMDS stays on and IMDSv2-only on every copy: its governor needs the identity document.
    metadataOptions: {
      HttpTokens: 'required',
      HttpEndpoint: 'enabled',
      HttpPutResponseHopLimit: metadata?.HttpPutResponseHopLimit ?? DEFAULT_HOP_LIMIT,
      ...(metadata?.InstanceMetadataTags ? { InstanceMetadataTags: metadata.InstanceMetadataTags } : {}),
    },
    userData: userData || undefined,
    tags: copiedTags(instance.Tags),
  };
}

/** Describes `instanceId` (DescribeInstances) and reads its user data (DescribeInstanceAttribute). */
export async function describeSelf(ec2: EC2Client, instanceId: string): Promise<CloneSpec> {
  const described = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
  const instance = described.Reservations?.flatMap((r) => r.Instances ?? []).find((i) => i.InstanceId === instanceId);
  if (!instance) throw new GovError('GOV_ERR_CLOUD_NOT_FOUND', `DescribeInstances does not know this instance ${instanceId}`, { id: instanceId });
  const attribute = await ec2.send(new DescribeInstanceAttributeCommand({ InstanceId: instanceId, Attribute: 'userData' }));
  return cloneSpecOf(instance, attribute.UserData?.Value);
}

export interface FleetTags {
  fleet: string;
  region: string;
}

/** The tags that make an instance a member of `where` (set at launch; listFleet filters on them). */
export function membershipTags(where: FleetTags): Tag[] {
  return [
    { Key: TAG.fleet, Value: where.fleet },
    { Key: TAG.region, Value: where.region },
  ];
}

/**
 * RunInstances input for one copy of `clone` filling `req.slot`, with `req.token` as ClientToken:
 * EC2 launches at most one instance per token, and refuses the same token with other parameters
 * (IdempotentParameterMismatch).
 */
export function runInstancesInput(clone: CloneSpec, req: LaunchRequest, where: FleetTags): RunInstancesCommandInput {
  const tags: Tag[] = [
    ...clone.tags,
    ...membershipTags(where),
    { Key: TAG.launchedBy, Value: req.launchedBy },
    { Key: TAG.launchSlot, Value: req.slot },
  ];
  return {
    ImageId: clone.imageId,
    InstanceType: clone.instanceType as RunInstancesCommandInput['InstanceType'],
    MinCount: 1,
    MaxCount: 1,
    ClientToken: req.token,
    ...(clone.subnetId ? { SubnetId: clone.subnetId } : {}),
    ...(clone.securityGroupIds.length > 0 ? { SecurityGroupIds: clone.securityGroupIds } : {}),
    ...(clone.iamInstanceProfileArn ? { IamInstanceProfile: { Arn: clone.iamInstanceProfileArn } } : {}),
    ...(clone.keyName ? { KeyName: clone.keyName } : {}),
    ...(clone.userData ? { UserData: clone.userData } : {}),
    MetadataOptions: clone.metadataOptions,
    TagSpecifications: [{ ResourceType: 'instance', Tags: tags }],
  };
}
