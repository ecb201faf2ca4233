import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ConfigInput, ConfigProblem } from '../../governor/config.js';
import { DEFAULT_TASK_MODULES } from '../../governor/config-schema.js';
import { GovError, isGovError } from '../../governor/errors.js';
import { configFromUserData, imageDefaultsFile, runFirstBoot } from '../../governor/first-boot.js';
import { packageRoot } from '../../governor/package-info.js';
import { FakeImdsServer } from '../fakes/imds-server.js';

const IMAGE: ConfigInput = JSON.parse(await readFile(imageDefaultsFile(), 'utf8')) as ConfigInput;

function thrown(fn: () => unknown): GovError {
  try {
    fn();
  } catch (err) {
    if (err instanceof GovError) return err;
    throw err;
  }
  throw new Error('expected a GovError');
}

describe('configFromUserData', () => {
  it('overlays YAML user data on the image defaults and fills every other default', () => {
    const { config, adminSecret } = configFromUserData('fleet: edge\nregion: eu-west-1\nproxy:\n  origin: https://origin.example\nscaling:\n  maxInstances: 12\n', IMAGE);
    expect(adminSecret).toBeUndefined();
    expect(config.admin.secretFile).toBeUndefined();
    expect(config.fleet).toBe('edge');
    expect(config.region).toBe('eu-west-1');
    expect(config.proxy).toMatchObject({ origin: 'https://origin.example', port: 80, host: '0.0.0.0', maxQueue: 256 });
    expect(config.scaling).toMatchObject({ maxInstances: 12, minInstances: 1 });
    expect(config.cloud.adapter).toBe('ec2');
    expect(config.stateDir).toBe('/var/lib/governor');
    expect(config.rulesDir).toBe(join(packageRoot(), 'rules'));
    // the image runs every default task, publish-metrics among them
    expect(config.tasks.modules).toEqual([...DEFAULT_TASK_MODULES]);
    expect(config.tasks.modules).toContain('publish-metrics');
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('reads JSON user data, and takes the region from the instance unless the user data names one', () => {
    const json = '{"fleet":"edge","proxy":{"origin":"http://10.0.0.5:8080"}}';
    expect(configFromUserData(json, IMAGE, { region: 'ap-south-1' }).config.region).toBe('ap-south-1');
    expect(configFromUserData(json.replace('{"fleet"', '{"region":"us-east-2","fleet"'), IMAGE, { region: 'ap-south-1' }).config.region).toBe('us-east-2');
  });

  it('lists every problem at once: missing keys and schema violations', () => {
    const err = thrown(() => configFromUserData('proxy:\n  maxQueue: -1\nscaling:\n  maxInstnces: 3\nmetrics:\n  namespace: AWS/EC2\n', IMAGE));
    expect(err.code).toBe('GOV_ERR_CONFIG_INVALID');
    const problems = (err.details as { problems: ConfigProblem[] }).problems;
    expect(problems.map((p) => p.key).sort()).toEqual(['fleet', 'metrics.namespace', 'proxy.maxQueue', 'proxy.origin', 'scaling.maxInstnces']);
    expect(err.message).toMatch(/^invalid user data \(5 problems\):/);
    expect(err.message).toContain('user data: fleet is missing');
    expect(err.message).toContain('did you mean "scaling.maxInstances"?');
  });

  it('takes adminSecret out of the config and points admin.secretFile at where it will be written', () => {
    const secret = 'a'.repeat(64);
    const built = configFromUserData(`fleet: edge\nproxy: {origin: "http://o.example"}\nadminSecret: ${secret}\n`, IMAGE, { adminSecretFile: '/run/governor/admin.secret' });
    expect(built.adminSecret).toBe(secret);
    expect(built.config.admin.secretFile).toBe('/run/governor/admin.secret');
    expect(JSON.stringify(built.config)).not.toContain(secret);

    const err = thrown(() => configFromUserData('fleet: edge\nproxy: {origin: "http://o.example"}\nadminSecret: short\n', IMAGE, { adminSecretFile: '/x' }));
    expect(err.message).toContain('user data: adminSecret must be a string of at least 16 bytes');
    expect(err.message).not.toContain('short');
  });

  it('rejects empty, unparsable and non-object user data with GOV_ERR_CONFIG_READ', () => {
    expect(thrown(() => configFromUserData('  \n', IMAGE))).toMatchObject({ code: 'GOV_ERR_CONFIG_READ', message: expect.stringContaining('user data is empty') });
    expect(thrown(() => configFromUserData('{"fleet": ', IMAGE))).toMatchObject({ code: 'GOV_ERR_CONFIG_READ', message: expect.stringMatching(/^user data:1:\d+: invalid JSON/) });
    expect(thrown(() => configFromUserData('fleet: [unclosed\n', IMAGE))).toMatchObject({ code: 'GOV_ERR_CONFIG_READ' });
    expect(thrown(() => configFromUserData('#!/bin/bash\necho hi\n', IMAGE))).toMatchObject({
      code: 'GOV_ERR_CONFIG_READ',
      message: expect.stringContaining('must be a JSON or YAML object'),
    });
  });

  it('ignores the environment (the written file is exactly image defaults plus user data)', () => {
    const before = process.env.GOVERNOR_FLEET;
    process.env.GOVERNOR_FLEET = 'from-env';
    try {
      expect(configFromUserData('fleet: edge\nproxy: {origin: "http://o.example"}\n', IMAGE).config.fleet).toBe('edge');
    } finally {
      if (before === undefined) delete process.env.GOVERNOR_FLEET;
      else process.env.GOVERNOR_FLEET = before;
    }
  });
});

describe('runFirstBoot', () => {
  let dir: string;
  let imds: FakeImdsServer | undefined;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'governor-first-boot-'));
  });
  afterEach(async () => {
    await imds?.close();
    imds = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  it('writes the complete config from a user data file, loadable by governor start', async () => {
    const userData = join(dir, 'user-data');
    await writeFile(userData, 'fleet: edge\nregion: eu-west-1\nproxy:\n  origin: https://origin.example\n');
    const out = join(dir, 'etc/config.json');
    const config = await runFirstBoot({ userDataFile: userData, out });
    expect(config.admin.secretFile).toBeUndefined();
    const written = JSON.parse(await readFile(out, 'utf8')) as unknown;
    expect(written).toEqual(JSON.parse(JSON.stringify(config)));
    const { loadConfig } = await import('../../governor/config.js');
    expect(loadConfig({ file: out, env: {} })).toEqual(config);
  });

  it('writes the admin secret owner-only beside the config', async () => {
    const userData = join(dir, 'user-data.json');
    const secret = 'f'.repeat(64);
    await writeFile(userData, JSON.stringify({ fleet: 'edge', proxy: { origin: 'http://o.example' }, adminSecret: secret }));
    const out = join(dir, 'config.json');
    const config = await runFirstBoot({ userDataFile: userData, out });
    expect(config.admin.secretFile).toBe(join(dir, 'admin.secret'));
    expect((await readFile(join(dir, 'admin.secret'), 'utf8')).trim()).toBe(secret);
    expect((await stat(join(dir, 'admin.secret'))).mode & 0o777).toBe(0o600);
    expect(await readFile(out, 'utf8')).not.toContain(secret);
    // a second boot replaces it
    await runFirstBoot({ userDataFile: userData, out });
  });

  it('reports a missing user data file, writing nothing', async () => {
    const out = join(dir, 'config.json');
    await expect(runFirstBoot({ userDataFile: join(dir, 'nope'), out })).rejects.toMatchObject({
      code: 'GOV_ERR_CONFIG_READ',
      message: expect.stringContaining('cannot read user data file'),
    });
    await expect(readFile(out)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('reads IMDSv2: an instance without user data gets the clear error, not a default fleet', async () => {
    imds = await FakeImdsServer.start({ instanceId: 'i-0abc', region: 'eu-west-1', availabilityZone: 'eu-west-1a', imageId: 'ami-1' });
    const out = join(dir, 'config.json');
    const err = await runFirstBoot({ imdsEndpoint: imds.url, imdsTimeoutMs: 1000, out }).catch((e: unknown) => e);
    expect(isGovError(err, 'GOV_ERR_CONFIG_READ')).toBe(true);
    expect((err as Error).message).toContain('user data is empty');
    // a token first, then the user data (404), never an IMDSv1 request
    expect(imds.requests.slice(0, 2).map((r) => [r.method, r.path, r.status])).toEqual([
      ['PUT', '/latest/api/token', 200],
      ['GET', '/latest/user-data', 404],
    ]);
  });

  it('reports an unreachable metadata service as GOV_ERR_CLOUD_UNAVAILABLE', async () => {
    imds = await FakeImdsServer.start({ instanceId: 'i-0abc', region: 'eu-west-1', availabilityZone: 'eu-west-1a', imageId: 'ami-1' });
    const url = imds.url;
    await imds.close();
    imds = undefined;
    await expect(runFirstBoot({ imdsEndpoint: url, imdsTimeoutMs: 500, out: join(dir, 'c.json') })).rejects.toMatchObject({
      code: 'GOV_ERR_CLOUD_UNAVAILABLE',
    });
  });
});
