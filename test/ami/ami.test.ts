import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TAG } from '../../governor/cloud/ec2-tags.js';
import type { GovernorConfig } from '../../governor/config-types.js';
import { defaultConfig } from '../../governor/config.js';
import { launchToken } from '../../governor/coordination.js';
import { packageRoot } from '../../governor/package-info.js';
import { PROXY_MALLOC_TUNABLES, PROXY_NODE_FLAGS } from '../../proxy/process-settings.js';
import { CliProcess, descendantsOf, GUARD_MARK, GUARD_URL, isolatedEnv, MachineFakes, running, THIS_MACHINE, waitFor } from './bundle-boot.js';
import { blocksOf, HclSyntaxError, parseHcl, stringValue, type HclBlock } from './hcl.js';

const ROOT = packageRoot();
const AMI = join(ROOT, 'ami');
const read = (file: string) => readFileSync(join(AMI, file), 'utf8');

function which(command: string): string | undefined {
  const found = spawnSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' });
  return found.status === 0 ? found.stdout.trim() : undefined;
}

describe('HCL reader (the stand-in for packer validate)', () => {
  it('rejects what packer would reject structurally', () => {
    expect(() => parseHcl('source "amazon-ebs" "x" {\n  region = "a"\n')).toThrow(/never closed/);
    expect(() => parseHcl('a = "unterminated\n')).toThrow(HclSyntaxError);
    expect(() => parseHcl('a = [1, 2\nb = 3\n')).toThrow(/line 1: unclosed bracket/);
    expect(() => parseHcl('block {\n  a = 1\n  a = 2\n}\n')).toThrow(/line 3: attribute a is set twice/);
    expect(() => parseHcl('a = "${var.x"\n')).toThrow(/unterminated/);
    expect(() => parseHcl('}\n')).toThrow(/unexpected '}'/);
    expect(() => parseHcl('block "label"\n')).toThrow(/expected '=' or '{'/);
  });

  it('reads blocks, labels, attributes, strings with interpolation and heredocs', () => {
    const doc = parseHcl('# c\nb "l1" "l2" {\n  s = "x-${var.y["k"]}"\n  o = {\n    k = 1\n  }\n  h = <<EOF\nline }\nEOF\n  inner { n = 1 }\n}\n');
    const [b] = blocksOf(doc, 'b');
    expect(b.labels).toEqual(['l1', 'l2']);
    expect(b.attributes.s.raw).toBe('"x-${var.y["k"]}"');
    expect(b.attributes.o.raw).toMatch(/^\{ k = 1 \}$/);
    expect(blocksOf(b, 'inner')[0].attributes.n.raw).toBe('1');
  });
});

describe('ami/governor.pkr.hcl', () => {
  const template = parseHcl(read('governor.pkr.hcl'));
  const [source] = blocksOf(template, 'source', 'amazon-ebs');

  it('requires the amazon plugin', () => {
    const [packer] = blocksOf(template, 'packer');
    const [plugins] = blocksOf(packer, 'required_plugins');
    expect(plugins.attributes.amazon.raw).toContain('"github.com/hashicorp/amazon"');
  });

  it('starts from the most recent official Debian 12 or Amazon Linux 2023 image', () => {
    expect(source.labels).toHaveLength(2);
    const [filter] = blocksOf(source, 'source_ami_filter');
    expect(filter.attributes.most_recent.raw).toBe('true');
    expect(filter.attributes.owners.raw).toBe('[local.base.owner]');
    const bases = template.blocks.find((b) => b.type === 'locals')?.attributes.bases.raw ?? '';
    expect(bases).toContain('"debian-12-');
    expect(bases).toContain('"136693071363"');
    expect(bases).toContain('"al2023-ami-2023.*-');
    expect(bases).toContain('"137112412989"');
  });

  it('requires IMDSv2 with hop limit 1 and marks the image IMDSv2-only', () => {
    const [metadata] = blocksOf(source, 'metadata_options');
    expect(stringValue(metadata, 'http_tokens')).toBe('required');
    expect(metadata.attributes.http_put_response_hop_limit.raw).toBe('1');
    expect(stringValue(metadata, 'http_endpoint')).toBe('enabled');
    expect(stringValue(source, 'imds_support')).toBe('v2.0');
  });

  it('tags the image with its fleet (the IAM policy launches only such images)', () => {
    const locals = blocksOf(template, 'locals')[0];
    expect(locals.attributes.tags.raw).toMatch(/"governor:fleet"\s+= var\.fleet/);
    expect(source.attributes.tags.raw).toBe('local.tags');
  });

  it('uploads the bundle and the unit, then provisions with the script', () => {
    const [build] = blocksOf(template, 'build');
    expect(build.attributes.sources.raw).toContain(`"source.amazon-ebs.${source.labels[1]}"`);
    const provisioners = blocksOf(build, 'provisioner');
    expect(provisioners.map((p) => p.labels[0])).toEqual(['file', 'file', 'shell']);
    expect(provisioners[0].attributes.source.raw).toBe('var.bundle');
    expect(provisioners[1].attributes.source.raw).toBe('"${path.root}/governor.service"');
    expect(provisioners[2].attributes.script.raw).toBe('"${path.root}/provision.sh"');
    expect(existsSync(join(AMI, 'governor.service'))).toBe(true);
    expect(existsSync(join(AMI, 'provision.sh'))).toBe(true);
  });

  it('declares every variable and local it uses', () => {
    const text = read('governor.pkr.hcl');
    const declared = new Set(blocksOf(template, 'variable').map((v) => v.labels[0]));
    const locals = new Set(Object.keys(blocksOf(template, 'locals')[0].attributes));
    const used = (prefix: string) => new Set([...text.matchAll(new RegExp(`\\b${prefix}\\.([A-Za-z_][A-Za-z0-9_]*)`, 'g'))].map((m) => m[1]));
    expect([...used('var')].filter((v) => !declared.has(v))).toEqual([]);
    expect([...used('local')].filter((l) => !locals.has(l))).toEqual([]);
    const required = blocksOf(template, 'variable').filter((v: HclBlock) => v.attributes.default === undefined).map((v) => v.labels[0]);
    expect(required.sort()).toEqual(['bundle', 'fleet', 'node_sha256', 'region']);
  });
});

describe('ami/provision.sh', () => {
  const script = read('provision.sh');

  it('is valid sh', () => {
    const check = spawnSync('sh', ['-n', join(AMI, 'provision.sh')], { encoding: 'utf8' });
    expect(check.stderr).toBe('');
    expect(check.status).toBe(0);
  });

  it('verifies the Node tarball, installs the bundle for a user of its own, and removes SSH', () => {
    expect(script).toContain('sha256sum -c -');
    expect(script).toMatch(/useradd --system .* governor/s);
    expect(script).toContain('systemctl enable governor.service');
    expect(script).toContain('systemctl mask "$unit"');
    expect(script).toContain('apt-get purge -y openssh-server');
    expect(script).toContain('dnf remove -y openssh-server');
  });
});

describe('ami/governor.service', () => {
  const unit = read('governor.service');
  const directives = new Map<string, string[]>();
  for (const line of unit.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (m) directives.set(m[1], [...(directives.get(m[1]) ?? []), m[2]]);
  }
  const one = (key: string) => directives.get(key)?.[0];

  it('is hardened: own user, no new privileges, read-only system, private tmp', () => {
    expect(one('User')).toBe('governor');
    expect(one('NoNewPrivileges')).toBe('yes');
    expect(one('ProtectSystem')).toBe('strict');
    expect(one('ReadWritePaths')).toBe('/var/lib/governor /run/governor');
    expect(one('PrivateTmp')).toBe('yes');
    expect(one('ProtectHome')).toBe('yes');
    expect(one('CapabilityBoundingSet')).toBe('CAP_NET_BIND_SERVICE');
    expect(one('AmbientCapabilities')).toBe('CAP_NET_BIND_SERVICE');
  });

  it('restarts on failure and gives a stop time to cover the drain', () => {
    expect(one('Restart')).toBe('on-failure');
    expect(one('KillSignal')).toBe('SIGTERM');
    const stopSeconds = Number(/^(\d+)s$/.exec(one('TimeoutStopSec') ?? '')?.[1]);
    const { notReadyMs, drainTimeoutMs, phaseTimeoutMs } = defaultConfig().shutdown;
    expect(stopSeconds * 1000).toBeGreaterThan(notReadyMs + drainTimeoutMs + 2 * phaseTimeoutMs);
  });

  it('configures itself from user data, then starts the instance on port 80 from the image', () => {
    expect(one('ExecStartPre')).toBe('/usr/local/bin/node /opt/governor/dist/governor/cli.js first-boot --out /run/governor/config.json');
    expect(one('ExecStart')).toBe(`/usr/local/bin/node ${PROXY_NODE_FLAGS.join(' ')} /opt/governor/dist/governor/cli.js start --config /run/governor/config.json`);
    expect(directives.get('Environment')).toContain(`GLIBC_TUNABLES=${PROXY_MALLOC_TUNABLES.join(':')}`);
    const image = JSON.parse(read('image-config.json')) as { proxy: { port: number } };
    expect(image.proxy.port).toBe(80);
  });

  it('passes systemd-analyze verify', () => {
    const analyze = which('systemd-analyze');
    if (!analyze) {
      // CI must run this check (apt-get install systemd); elsewhere it is skipped
      expect(process.env.CI, 'systemd-analyze is missing: install Debian\'s systemd package (apt-get install -y systemd)').not.toBe('true');
      return;
    }
    const root = mkdtempSync(join(tmpdir(), 'governor-unit-'));
    try {
      // an image-like root: the system's own units, a node at the unit's path, and the unit
      mkdirSync(join(root, 'usr/local/bin'), { recursive: true });
      mkdirSync(join(root, 'etc/systemd/system'), { recursive: true });
      const systemUnits = ['/usr/lib/systemd/system', '/lib/systemd/system'].find((dir) => existsSync(join(dir, 'sysinit.target')));
      if (systemUnits) cpSync(systemUnits, join(root, 'usr/lib/systemd/system'), { recursive: true });
      writeFileSync(join(root, 'usr/local/bin/node'), '#!/bin/sh\n', { mode: 0o755 });
      const unitPath = join(root, 'etc/systemd/system/governor.service');
      cpSync(join(AMI, 'governor.service'), unitPath);
      const result = spawnSync(analyze, ['verify', `--root=${root}`, unitPath], { encoding: 'utf8' });
      // warnings (unknown keys, bad values) go to stderr with exit status 0: both must be clean
      expect(result.stderr).toBe('');
      expect(result.status).toBe(0);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe('ami/iam-policy.json', () => {
  interface Statement {
    Sid: string;
    Effect: string;
    Action: string | string[];
    Resource: string | string[];
    Condition?: Record<string, Record<string, string | string[]>>;
  }
  const policy = JSON.parse(read('iam-policy.json')) as { Version: string; Statement: Statement[] };
  const bySid = new Map(policy.Statement.map((s) => [s.Sid, s]));
  const list = (v: string | string[]) => (Array.isArray(v) ? v : [v]);
  const statement = (sid: string) => {
    const found = bySid.get(sid);
    expect(found, sid).toBeDefined();
    return found as Statement;
  };

  it('is valid JSON with unique statement ids, Allow only, no wildcard actions', () => {
    expect(policy.Version).toBe('2012-10-17');
    expect(bySid.size).toBe(policy.Statement.length);
    for (const s of policy.Statement) {
      expect(s.Effect, s.Sid).toBe('Allow');
      for (const action of list(s.Action)) expect(action, s.Sid).toMatch(/^(ec2|iam|cloudwatch|elasticloadbalancing):[A-Za-z]+$/);
    }
  });

  it('grants a resource "*" only where AWS has no resource-level permissions, and conditions it', () => {
    const unscoped = policy.Statement.filter((s) => list(s.Resource).includes('*'));
    expect(unscoped.map((s) => list(s.Action)).flat().sort()).toEqual(['cloudwatch:PutMetricData', 'ec2:DescribeInstances', 'elasticloadbalancing:DescribeTargetHealth']);
    for (const s of unscoped) expect(s.Condition, s.Sid).toBeDefined();
  });

  it('runs instances only from the fleet images, with the fleet tags, IMDSv2 at hop limit 1 and the fleet profile', () => {
    const image = statement('RunOnlyTheFleetImages');
    expect(image.Resource).toBe('arn:aws:ec2:${Region}::image/*');
    expect(image.Condition?.StringEquals).toEqual({ 'ec2:ResourceTag/governor:fleet': '${FleetName}', 'ec2:Owner': '${AccountId}' });
    const instance = statement('RunOnlyFleetTaggedHardenedInstances');
    expect(instance.Condition?.StringEquals).toMatchObject({
      'aws:RequestTag/governor:fleet': '${FleetName}',
      'ec2:MetadataHttpTokens': 'required',
      'ec2:InstanceProfile': 'arn:aws:iam::${AccountId}:instance-profile/${InstanceProfileName}',
    });
    expect(instance.Condition?.NumericLessThanEquals).toEqual({ 'ec2:MetadataHttpPutResponseHopLimit': '1' });
    const runInstances = policy.Statement.filter((s) => list(s.Action).includes('ec2:RunInstances'));
    for (const s of runInstances) for (const r of list(s.Resource)) expect(r).toMatch(/^arn:aws:ec2:\$\{Region\}:/);
  });

  it('terminates and tags only instances tagged with the fleet', () => {
    expect(statement('TerminateOnlyFleetInstances').Condition?.StringEquals).toEqual({ 'ec2:ResourceTag/governor:fleet': '${FleetName}' });
    const tagging = statement('TagOnlyFleetInstancesGovernorKeys');
    expect(list(tagging.Action).sort()).toEqual(['ec2:CreateTags', 'ec2:DeleteTags']);
    expect(tagging.Condition?.StringEquals).toEqual({ 'ec2:ResourceTag/governor:fleet': '${FleetName}' });
    expect(tagging.Condition?.['ForAllValues:StringNotEquals']).toEqual({ 'aws:TagKeys': ['governor:fleet', 'governor:region'] });
    expect(statement('TagOnLaunchOnly').Condition?.StringEquals).toMatchObject({ 'ec2:CreateAction': 'RunInstances' });
  });

  it('passes only the fleet role, to EC2, and publishes metrics only in our namespace', () => {
    const pass = statement('PassOnlyTheFleetRole');
    expect(pass.Action).toBe('iam:PassRole');
    expect(pass.Resource).toBe('arn:aws:iam::${AccountId}:role/${RoleName}');
    expect(pass.Condition?.StringEquals).toEqual({ 'iam:PassedToService': 'ec2.amazonaws.com' });
    expect(statement('MetricsOnlyInOurNamespace').Condition?.StringEquals).toEqual({ 'cloudwatch:namespace': '${Namespace}' });
  });

  it('registers and deregisters targets only in target groups of its account and region', () => {
    const join = statement('JoinAndLeaveTargetGroups');
    expect(list(join.Action).sort()).toEqual(['elasticloadbalancing:DeregisterTargets', 'elasticloadbalancing:RegisterTargets']);
    expect(join.Resource).toBe('arn:aws:elasticloadbalancing:${Region}:${AccountId}:targetgroup/*');
  });

  it('is rendered for one fleet by ami/iam-policy.mjs, which checks every value', () => {
    const args = ['--fleet', 'edge', '--account', '123456789012', '--region', 'eu-west-1', '--role', 'governor-edge', '--vpc', 'vpc-0abc1234'];
    const out = execFileSync(process.execPath, [join(AMI, 'iam-policy.mjs'), ...args], { encoding: 'utf8' });
    expect(out).not.toContain('${');
    const rendered = JSON.parse(out) as { Statement: Statement[] };
    expect(rendered.Statement).toHaveLength(policy.Statement.length);
    expect(out).toContain('"cloudwatch:namespace": "Governor"');
    expect(out).toContain('arn:aws:iam::123456789012:instance-profile/governor-edge');

    const bad = spawnSync(process.execPath, [join(AMI, 'iam-policy.mjs'), '--fleet', 'no spaces', '--account', '12'], { encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('--fleet "no spaces" is not the fleet name');
    expect(bad.stderr).toContain('--account "12" is not the 12-digit AWS account id');
    expect(bad.stderr).toContain('--region is missing');
  });
});

describe('npm run bundle (ami/bundle.mjs)', () => {
  let work: string;
  let unpacked: string;
  let archive: string;
  const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

  beforeAll(() => {
    if (!existsSync(join(ROOT, 'dist/governor/cli.js'))) execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT });
    work = mkdtempSync(join(tmpdir(), 'governor-bundle-test-'));
    archive = execFileSync(process.execPath, [join(AMI, 'bundle.mjs'), '--out', work], { encoding: 'utf8' }).trim();
    const root = join(work, 'root/opt/governor');
    mkdirSync(root, { recursive: true });
    // exactly as provision.sh unpacks it
    execFileSync('tar', ['-xzf', archive, '-C', root, '--strip-components=1', '--no-same-owner']);
    unpacked = root;
  }, 120_000);

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('is governor-<version>.tgz with one top folder, owned by root', () => {
    expect(archive).toBe(join(work, `governor-${version}.tgz`));
    const listing = execFileSync('tar', ['-tvzf', archive], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 }).trim().split('\n');
    for (const line of listing.slice(0, 50)) expect(line).toMatch(new RegExp(`^\\S+ (0/0|root/root) .* governor-${version.replace(/\./g, '\\.')}/`));
  });

  it('holds the built code, the default rules, the image defaults and production dependencies only', () => {
    expect(existsSync(join(unpacked, 'dist/governor/cli.js'))).toBe(true);
    expect(existsSync(join(unpacked, 'dist/tasks/publish-metrics.js'))).toBe(true);
    expect(readdirSync(join(unpacked, 'rules')).filter((f) => f.endsWith('.json')).length).toBeGreaterThan(0);
    expect(existsSync(join(unpacked, 'ami/image-config.json'))).toBe(true);
    expect((JSON.parse(readFileSync(join(unpacked, 'package.json'), 'utf8')) as { version: string }).version).toBe(version);
    for (const dep of ['pino', 'json-rules-engine', '@aws-sdk/client-ec2', '@aws-sdk/client-cloudwatch']) {
      expect(existsSync(join(unpacked, 'node_modules', dep, 'package.json')), dep).toBe(true);
    }
    for (const dev of ['vitest', 'typescript', 'eslint', 'autocannon', 'playwright-core']) {
      expect(existsSync(join(unpacked, 'node_modules', dev)), dev).toBe(false);
    }
    expect(existsSync(join(unpacked, 'test'))).toBe(false);
    // of the sources, only the status page's static files (read at start-up)
    expect(readdirSync(join(unpacked, 'governor'))).toEqual(['status-page']);
    expect(readdirSync(join(unpacked, 'governor/status-page')).sort()).toEqual(['app.js', 'index.html', 'style.css']);
  });

  it('runs from the unpacked root: --help, rules check, and first boot writes a config for the image', () => {
    const help = spawnSync(process.execPath, ['dist/governor/cli.js', '--help'], { cwd: unpacked, encoding: 'utf8' });
    expect(help.status, help.stderr).toBe(0);
    expect(help.stdout).toContain('Commands:');
    const rules = spawnSync(process.execPath, ['dist/governor/cli.js', 'rules', 'check', 'rules'], { cwd: unpacked, encoding: 'utf8' });
    expect(rules.status, rules.stdout + rules.stderr).toBe(0);

    const userData = join(work, 'user-data.yaml');
    writeFileSync(userData, 'fleet: edge\nregion: eu-west-1\nproxy:\n  origin: https://origin.example\nscaling:\n  maxInstances: 4\n');
    const out = join(work, 'config.json');
    const script = `import('./dist/governor/first-boot.js').then((m) => m.runFirstBoot({ userDataFile: ${JSON.stringify(userData)}, out: ${JSON.stringify(out)} }))`;
    const boot = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: unpacked, encoding: 'utf8' });
    expect(boot.status, boot.stderr).toBe(0);
    const config = JSON.parse(readFileSync(out, 'utf8')) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(config.fleet).toBe('edge');
    expect(config.rulesDir).toBe(join(unpacked, 'rules'));
    expect(config.cloud.adapter).toBe('ec2');
    expect(config.scaling.maxInstances).toBe(4);
    expect(config.tasks.modules).toContain('publish-metrics');
  });

  /**
   * Issue #5: the unpacked bundle, started as the image starts it (first boot, then start, each a
   * real process), on "this machine" as the fakes describe it. Its rule asks for a third member at
   * once, so it launches a copy of itself; the copy never comes up (nothing runs it), so it stays
   * pending and holds back every further launch.
   */
  describe('booted from the unpacked root against the AWS fakes', () => {
    const FLEET = 'edge';
    const REGION = 'us-east-1';
    const every = (seconds: number) => ({ schedule: `*/${seconds} * * * * *` });
    let boot: string;
    let fakes: MachineFakes;
    let firstBoot: CliProcess;
    let governor: CliProcess;
    let proxyUrl: string;
    let adminUrl: string;

    const getJson = async <T>(url: string): Promise<T> => (await fetch(url)).json() as Promise<T>;
    const state = () => getJson<{ meta: Record<string, any>; values: Record<string, any> }>(`${adminUrl}/state`); // eslint-disable-line @typescript-eslint/no-explicit-any

    beforeAll(async () => {
      boot = mkdtempSync(join(work, 'boot-'));
      const rulesDir = join(boot, 'rules');
      mkdirSync(rulesDir);
      writeFileSync(
        join(rulesDir, 'grow.json'),
        JSON.stringify({
          description: 'The test asks for a bigger fleet at once.',
          rules: [
            {
              name: 'grow-to-three',
              description: 'Fewer than three members: scale up.',
              conditions: { all: [{ fact: 'fleet.size', operator: 'lessThan', value: 3 }] },
              event: { type: 'scale-up' },
            },
          ],
        }),
      );
      fakes = await MachineFakes.start({
        fleet: FLEET,
        region: REGION,
        userData: (urls) =>
          JSON.stringify({
            fleet: FLEET,
            rulesDir,
            proxy: { origin: urls.origin },
            cloud: { ec2: { endpoint: urls.ec2 } },
            metrics: { endpoint: urls.cloudwatch },
            scaling: { maxInstances: 3, warmupMs: 1_000, scaleUpSpacingMs: 0 },
            tasks: { overrides: { fleet: every(1), rules: every(1), 'scale-up': every(1), 'publish-metrics': every(2) } },
            log: { level: 'warn' },
          }),
      });
      const userDataFile = join(boot, 'user-data.json');
      writeFileSync(userDataFile, fakes.userData);
      const home = join(boot, 'home');
      mkdirSync(home);
      const env = isolatedEnv(home, {
        // this machine's IMDS: the SDK's own variable (the image config names no IMDS endpoint)
        AWS_EC2_METADATA_SERVICE_ENDPOINT: fakes.imds.url,
        GOVERNOR_STATE_DIR: join(boot, 'state'),
        GOVERNOR_PROXY_HOST: '127.0.0.1',
        GOVERNOR_PROXY_PORT: '0',
        GOVERNOR_ADMIN_HOST: '127.0.0.1',
        GOVERNOR_ADMIN_PORT: '0',
      });
      const cli = join(unpacked, 'dist/governor/cli.js');
      const configFile = join(boot, 'run/config.json');
      mkdirSync(dirname(configFile));
      firstBoot = new CliProcess(cli, ['first-boot', '--out', configFile, '--user-data', userDataFile, '--defaults', join(unpacked, 'ami/image-config.json')], { cwd: boot, env });
      expect(await firstBoot.finish(15_000), firstBoot.output()).toBe(0);
      const written = JSON.parse(readFileSync(configFile, 'utf8')) as GovernorConfig;
      expect(written.cloud.adapter).toBe('ec2');
      expect(written.proxy.port).toBe(80); // the image's: the environment moves it for the test

      governor = new CliProcess(cli, ['start', '--config', configFile], { cwd: boot, env });
      const started = await governor.waitForOutput(/^instance (\S+): proxy (http:\/\/\S+), admin (http:\/\/\S+)$/m, 20_000);
      [, , proxyUrl, adminUrl] = started;
      expect(started[1]).toBe(fakes.selfId);
    }, 45_000);

    afterAll(async () => {
      if (governor && governor.child.exitCode === null && governor.child.signalCode === null) governor.child.kill('SIGKILL');
      await governor?.exited;
      await fakes?.close();
    });

    it('runs under a loopback guard that refuses any address beyond 127.0.0.1 (self-check)', () => {
      const script = "const r = await fetch('http://192.0.2.1/').then(() => 'connected', (e) => e.cause?.code); console.log(r);";
      const probe = spawnSync(process.execPath, ['--import', GUARD_URL, '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 10_000 });
      expect(probe.stdout.trim()).toBe('ECONNREFUSED');
      expect(probe.stderr).toContain(`${GUARD_MARK} 192.0.2.1:80`);
    });

    it('answers /healthz and /readyz, and serves the origin through its proxy', async () => {
      expect((await fetch(`${adminUrl}/healthz`)).status).toBe(200);
      await waitFor('/readyz to answer 200', 10_000, async () => ((await fetch(`${adminUrl}/readyz`)).status === 200 ? true : undefined));
      for (const url of [proxyUrl, adminUrl]) expect(new URL(url).hostname).toBe('127.0.0.1');
      const page = await fetch(`${proxyUrl}/`);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('<h1>Governor demo origin</h1>');
      const api = await fetch(`${proxyUrl}/api/time`);
      expect(api.status).toBe(200);
      expect(api.headers.get('cache-control')).toBe('no-store');
    });

    it('shows the bundle version and its identity from IMDS in /state', async () => {
      const { meta } = await state();
      expect(meta.version).toBe(version);
      expect(meta.identity).toMatchObject({ id: fakes.selfId, fleet: FLEET, region: REGION });
      const imdsCalls = fakes.imds.requests.map((r) => `${r.method} ${r.path} ${r.status}`);
      expect(imdsCalls).toContain('PUT /latest/api/token 200');
      expect(imdsCalls).toContain('GET /latest/dynamic/instance-identity/document 200');
    });

    it('launches one copy of this machine on demand, and no second one for its slot', async () => {
      const launch = await waitFor('a RunInstances call', 30_000, async () => fakes.launchesSinceBoot()[0], () => governor.output());
      // the need persists (fleet.size < 3), but the copy is pending: the decision after it holds back
      const held = await waitFor('the scale-up decision to see the pending copy', 15_000, async () => {
        const decision = (await state()).values['scale-up.decision'] as { action: string; code?: string } | undefined;
        return decision?.code === 'launch-pending' ? decision : undefined;
      });
      expect(held.action).toBe('suppress');
      expect(fakes.launchesSinceBoot()).toEqual([launch]);

      const self = fakes.ec2.instance(fakes.selfId)!;
      const copies = fakes.ec2.instances(REGION).filter((i) => i.id !== fakes.selfId);
      expect(copies).toHaveLength(1);
      const [copy] = copies;
      expect(copy).toMatchObject({
        imageId: THIS_MACHINE.ImageId,
        instanceType: THIS_MACHINE.InstanceType,
        subnetId: THIS_MACHINE.SubnetId,
        securityGroupIds: THIS_MACHINE.SecurityGroupIds,
        iamInstanceProfileArn: THIS_MACHINE.IamInstanceProfile!.Arn,
        userData: self.userData,
        metadataOptions: { httpTokens: 'required', httpPutResponseHopLimit: 1, httpEndpoint: 'enabled' },
      });
      expect(copy.keyName).toBeUndefined();
      expect(Buffer.from(launch.params.UserData, 'base64').toString()).toBe(fakes.userData);
      const slot = copy.tags[TAG.launchSlot];
      expect(copy.tags).toMatchObject({ Name: FLEET, [TAG.fleet]: FLEET, [TAG.region]: REGION, [TAG.launchedBy]: fakes.selfId });
      expect(slot).toMatch(/\S/);
      expect(launch.params.ClientToken).toBe(launchToken(FLEET, REGION, slot));
      expect(launch.params.ClientToken.length).toBeLessThanOrEqual(64);

      const journal = await getJson<{ entries: Array<{ data?: { id?: string; slot?: string } }> }>(`${adminUrl}/journal?name=launch&kind=action`);
      expect(journal.entries.map((e) => e.data)).toEqual([expect.objectContaining({ id: copy.id, slot })]);
    }, 50_000);

    it('publishes its metrics to CloudWatch', async () => {
      const put = await waitFor('a PutMetricData call', 10_000, async () => fakes.cloudwatch.received[0], () => governor.output());
      expect(put).toMatchObject({ region: REGION, namespace: 'Governor' });
      const dimensions = put.metricData.map((d) => Object.fromEntries((d.Dimensions ?? []).map((x) => [x.Name, x.Value])));
      expect(dimensions).toContainEqual({ Fleet: FLEET, InstanceId: fakes.selfId });
      expect(dimensions).toContainEqual({ Fleet: FLEET });
    });

    it('stops on SIGTERM leaving no process, stays a member, and never reached beyond 127.0.0.1', async () => {
      // its children (proxy workers, when it runs any) must go with it
      const children = descendantsOf(governor.child.pid!);
      governor.child.kill('SIGTERM');
      expect(await governor.finish(20_000), governor.output()).toBe(0);
      for (const pid of children) await waitFor(`child process ${pid} to exit`, 5_000, async () => (running(pid) ? undefined : true));
      expect(fakes.ec2.callsOf('TerminateInstances')).toEqual([]);
      expect(firstBoot.output() + governor.output()).not.toContain(GUARD_MARK);
    }, 30_000);
  });
});
