#!/usr/bin/env -S GLIBC_TUNABLES=glibc.malloc.trim_threshold=134217728:glibc.malloc.mmap_threshold=33554432 node --initial-old-space-size=128
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { loadConfig } from './config.js';
import { runFirstBoot } from './first-boot.js';
import { numberFlag } from './cli-flags.js';
import { describeError, GovError } from './errors.js';
import { createLogger } from './log.js';
import { runInstance } from './instance.js';
import { operatorCliCommands } from './operator/cli-commands.js';
import { startRegion } from './region/up.js';
import { simulateCommand } from './simulator/command.js';
import { formatLoadTick, runLoad } from './region/load.js';
import { runRulesCheck } from './rules/check.js';
import { fetchFleetState, formatFleetState } from './state-view.js';

/** Exit codes (README, "CLI"): 0 success, 1 the command failed or found errors, 2 usage error. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

interface Command {
  summary: string;
  usage: string;
  options: NonNullable<ParseArgsConfig['options']>;
  allowPositionals?: boolean;
  run(values: Record<string, string | boolean | undefined>, positionals: string[]): Promise<number>;
}

const out = (line: string) => process.stdout.write(line + '\n');
const err = (line: string) => process.stderr.write(line + '\n');
const cliPath = fileURLToPath(import.meta.url);

const configOption = { config: { type: 'string', short: 'c' } } as const;

/** Resolves when SIGINT or SIGTERM arrives (the first one; a second forces exit). */
function untilSignal(): Promise<string> {
  return new Promise((resolve) => {
    let received = false;
    const onSignal = (sig: string) => {
      if (received) process.exit(130);
      received = true;
      resolve(sig);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

const commands: Record<string, Command> = {
  start: {
    summary: 'run one instance here: proxy, governor and admin API (what launches copy)',
    usage: 'governor start [--config FILE]',
    options: configOption,
    async run(values) {
      const config = loadConfig({ file: values.config as string | undefined });
      const log = createLogger(config.log.level);
      const ownerPid = process.env.GOVERNOR_REGION_OWNER_PID;
      const instance = await runInstance({
        config,
        log,
        instanceId: process.env.GOVERNOR_INSTANCE_ID,
        ownerPid: ownerPid ? Number(ownerPid) : undefined,
      });
      out(`instance ${instance.id}: proxy ${instance.proxyUrl}, admin ${instance.adminUrl}`);
      const reason = await Promise.race([instance.stopped, untilSignal()]);
      await instance.stop(reason);
      return EXIT.ok;
    },
  },
  up: {
    summary: 'bring up a local region: demo origin, front door, first instance (npm start)',
    usage: 'governor up [--config FILE] [--port 8080] [--origin URL]',
    options: { ...configOption, port: { type: 'string', short: 'p' }, origin: { type: 'string' } },
    async run(values) {
      const configFile = values.config as string | undefined;
      const config = loadConfig({ file: configFile });
      const log = createLogger(config.log.level);
      const region = await startRegion({
        config,
        configFile,
        frontDoorPort: numberFlag(values, 'port', 8080, { min: 0 }),
        origin: values.origin as string | undefined,
        cliPath,
        log,
      });
      out('');
      out(`Governor region "${config.fleet}" in ${config.region} is up.`);
      out(`  front door   ${region.frontDoorUrl}   (send your traffic here)`);
      out(`  origin       ${region.originUrl}`);
      out(`  state dir    ${config.stateDir}   (instance logs in logs/)`);
      out('');
      out('Drive load and watch the fleet grow, then shrink when the load stops:');
      out(`  npx governor load --target ${region.frontDoorUrl} --rate 400 --duration 300`);
      out(`  npx governor state --state-dir ${config.stateDir}`);
      out('Ctrl-C stops the region and every instance.');
      await untilSignal();
      out('stopping the region...');
      await region.stop();
      out('stopped.');
      return EXIT.ok;
    },
  },
  load: {
    summary: 'drive bounded load at a front door (steps or a ramp) with a live line',
    usage:
      'governor load --target URL --rate N --duration SECONDS [--ramp --from N | --steps K] [--path /p] [--state-dir DIR]',
    options: {
      target: { type: 'string' },
      rate: { type: 'string' },
      duration: { type: 'string' },
      ramp: { type: 'boolean' },
      from: { type: 'string' },
      steps: { type: 'string' },
      path: { type: 'string' },
      concurrency: { type: 'string' },
      'state-dir': { type: 'string' },
      ...configOption,
    },
    async run(values) {
      if (typeof values.target !== 'string') throw new GovError('GOV_ERR_CLI_USAGE', '--target URL is required');
      const config = loadConfig({ file: values.config as string | undefined });
      const stateDir = (values['state-dir'] as string | undefined) ?? config.stateDir;
      const controller = new AbortController();
      void untilSignal().then(() => controller.abort());
      const report = await runLoad({
        target: values.target,
        mode: values.ramp ? 'ramp' : 'steps',
        rate: numberFlag(values, 'rate', 100, { min: 1 }),
        fromRate: numberFlag(values, 'from', 0, { min: 0 }),
        durationSec: numberFlag(values, 'duration', 60, { min: 1 }),
        steps: numberFlag(values, 'steps', 1, { min: 1 }),
        path: values.path as string | undefined,
        maxConcurrency: numberFlag(values, 'concurrency', 256, { min: 1 }),
        fleetSize: async () => (await fetchFleetState(stateDir, config)).instances.length,
        onTick: (tick) => out(formatLoadTick(tick)),
        signal: controller.signal,
      });
      out(JSON.stringify(report));
      return EXIT.ok;
    },
  },
  state: {
    summary: "show the fleet: instances by rank, state, age, busy, queue; this region's tasks and intents",
    usage: 'governor state [--state-dir DIR] [--config FILE] [--json]',
    options: { ...configOption, 'state-dir': { type: 'string' }, json: { type: 'boolean' } },
    async run(values) {
      const config = loadConfig({ file: values.config as string | undefined });
      const state = await fetchFleetState((values['state-dir'] as string | undefined) ?? config.stateDir, config);
      out(values.json ? JSON.stringify(state, null, 2) : formatFleetState(state, Date.now()));
      return EXIT.ok;
    },
  },
  rules: {
    summary: 'rules check DIR: validate a rule folder offline (like nginx -t)',
    usage: 'governor rules check DIR',
    options: {},
    allowPositionals: true,
    async run(_values, positionals) {
      if (positionals[0] !== 'check' || positionals.length !== 2) {
        throw new GovError('GOV_ERR_CLI_USAGE', 'usage: governor rules check DIR');
      }
      return runRulesCheck(positionals[1], out);
    },
  },
  'first-boot': {
    summary: 'write this machine image instance\'s config from its user data (run by the systemd unit)',
    usage: 'governor first-boot --out FILE [--user-data FILE] [--imds-endpoint URL] [--defaults FILE]',
    options: {
      out: { type: 'string' },
      'user-data': { type: 'string' },
      'imds-endpoint': { type: 'string' },
      defaults: { type: 'string' },
    },
    async run(values) {
      if (typeof values.out !== 'string') throw new GovError('GOV_ERR_CLI_USAGE', '--out FILE is required');
      const config = await runFirstBoot({
        out: values.out,
        userDataFile: values['user-data'] as string | undefined,
        imdsEndpoint: values['imds-endpoint'] as string | undefined,
        imdsTimeoutMs: loadConfig({}).cloud.ec2.imdsTimeoutMs,
        defaultsFile: values.defaults as string | undefined,
      });
      out(`wrote ${values.out}: fleet ${config.fleet} in ${config.region}, origin ${config.proxy.origin}`);
      return EXIT.ok;
    },
  },
  ...operatorCliCommands(out),
  simulate: simulateCommand,
};

function help(): string {
  const lines = ['Governor: a request-aware, decentralized autoscaler for HTTP edge fleets.', '', 'Commands:'];
  for (const [name, c] of Object.entries(commands)) lines.push(`  ${name.padEnd(8)} ${c.summary}`);
  lines.push('', 'Run `governor <command> --help` for its options. Exit codes: 0 ok, 1 failed, 2 usage error.');
  return lines.join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    out(help());
    return name === undefined ? EXIT.usage : EXIT.ok;
  }
  const command = commands[name];
  if (!command) {
    err(`governor: unknown command "${name}"\n\n${help()}`);
    return EXIT.usage;
  }
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      options: { ...command.options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: command.allowPositionals ?? false,
      strict: true,
    });
  } catch (e) {
    err(`governor ${name}: ${(e as Error).message}\nusage: ${command.usage}`);
    return EXIT.usage;
  }
  if (parsed.values.help) {
    out(`${command.summary}\nusage: ${command.usage}`);
    return EXIT.ok;
  }
  try {
    return await command.run(parsed.values, parsed.positionals);
  } catch (e) {
    const { code, message } = describeError(e);
    err(`governor ${name}: ${code ? code + ': ' : ''}${message}`);
    return code === 'GOV_ERR_CLI_USAGE' ? EXIT.usage : EXIT.failed;
  }
}

if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e) => {
      err(String(e));
      process.exit(EXIT.failed);
    },
  );
}
