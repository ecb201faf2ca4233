#!/usr/bin/env node
// Fills the placeholders of ami/iam-policy.json for one fleet and prints the policy:
//   node ami/iam-policy.mjs --fleet edge --account 123456789012 --region eu-west-1 \
//     --role governor-edge --vpc vpc-0abc1234 [--instance-profile governor-edge] [--namespace Governor]
// Every value is checked; a placeholder left unfilled is an error. Exit codes: 0 ok, 2 bad arguments.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const TEMPLATE = join(dirname(fileURLToPath(import.meta.url)), 'iam-policy.json');

/** Placeholder -> [command-line option, pattern the value must match, what it is]. */
export const PLACEHOLDERS = {
  FleetName: ['fleet', /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'the fleet name (governor config "fleet")'],
  AccountId: ['account', /^\d{12}$/, 'the 12-digit AWS account id'],
  Region: ['region', /^[a-z]{2}(-[a-z]+)+-\d$/, 'the AWS region, e.g. eu-west-1'],
  RoleName: ['role', /^[\w+=,.@-]{1,64}$/, "the fleet's IAM role name"],
  InstanceProfileName: ['instance-profile', /^[\w+=,.@-]{1,128}$/, "the fleet's instance profile name (default: the role name)"],
  VpcId: ['vpc', /^vpc-[0-9a-f]{8,17}$/, 'the VPC the fleet runs in, e.g. vpc-0abc1234'],
  Namespace: ['namespace', /^(?!AWS\/)[A-Za-z0-9._/#: -]{1,255}$/, 'the CloudWatch namespace (governor config metrics.namespace)'],
};

/** The policy text for `values` (placeholder -> value); throws listing every problem. */
export function renderPolicy(values, template = readFileSync(TEMPLATE, 'utf8')) {
  const problems = [];
  for (const [name, [option, pattern, what]] of Object.entries(PLACEHOLDERS)) {
    const value = values[name];
    if (value === undefined) problems.push(`--${option} is missing: ${what}`);
    else if (!pattern.test(value)) problems.push(`--${option} ${JSON.stringify(value)} is not ${what}`);
  }
  if (problems.length > 0) throw new Error(problems.join('\n'));
  const text = template.replace(/\$\{(\w+)\}/g, (whole, name) => {
    if (!(name in PLACEHOLDERS)) throw new Error(`the template has an unknown placeholder ${whole}`);
    return values[name];
  });
  return JSON.stringify(JSON.parse(text), null, 2);
}

function main(argv) {
  const options = Object.fromEntries(Object.values(PLACEHOLDERS).map(([option]) => [option, { type: 'string' }]));
  const { values } = parseArgs({ args: argv, options, strict: true });
  const byPlaceholder = {};
  for (const [name, [option]] of Object.entries(PLACEHOLDERS)) byPlaceholder[name] = values[option];
  byPlaceholder.InstanceProfileName ??= values.role;
  byPlaceholder.Namespace ??= 'Governor';
  process.stdout.write(renderPolicy(byPlaceholder) + '\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    main(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`iam-policy: ${err.message}\n`);
    process.exit(2);
  }
}
