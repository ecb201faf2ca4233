import type { ParseArgsConfig } from 'node:util';
import { loadAdminSecret } from '../admin-auth.js';
import { RealClock } from '../clock.js';
import { LocalRegistry } from '../cloud/registry.js';
import { loadConfig } from '../config.js';
import { GovError } from '../errors.js';
import { adminChannel, commandChannel, type OperatorChannel } from './channels.js';
import { formatOperatorEvent } from './format.js';
import { setRegionControl, shutdownInstance, shutdownRegion, type ControlReport, type OperatorRun } from './orchestrate.js';
import { parseOutcome } from './outcome.js';

/** A CLI command record (the shape governor/cli.ts keeps in its table). */
export interface OperatorCliCommand {
  summary: string;
  usage: string;
  options: NonNullable<ParseArgsConfig['options']>;
  run(values: Record<string, string | boolean | undefined>): Promise<number>;
}

type Values = Record<string, string | boolean | undefined>;

const CHANNEL_OPTIONS = {
  config: { type: 'string', short: 'c' },
  'state-dir': { type: 'string' },
  fleet: { type: 'string' },
  admin: { type: 'string' },
  'secret-file': { type: 'string' },
  ttl: { type: 'string' },
} as const;

const CHANNEL_USAGE = '[--fleet NAME] [--state-dir DIR | --admin URL [--secret-file F]] [--ttl SECONDS] [--config FILE]';

function usage(message: string): GovError {
  return new GovError('GOV_ERR_CLI_USAGE', message);
}

function seconds(values: Values, name: string, fallback: number): number {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (typeof raw !== 'string' || !Number.isFinite(n) || n <= 0) throw usage(`--${name} must be a number of seconds > 0, got ${JSON.stringify(raw)}`);
  return n * 1000;
}

function text(values: Values, name: string): string | undefined {
  const raw = values[name];
  if (raw !== undefined && (typeof raw !== 'string' || raw.length === 0)) throw usage(`--${name} needs a value`);
  return raw;
}

/**
 * The channel the flags select: `--admin URL` the signed admin API (secret from --secret-file or
 * GOVERNOR_ADMIN_SECRET), otherwise the cloud command channel of the local registry in
 * --state-dir (default config.stateDir).
 */
async function openChannel(values: Values, region: string | undefined): Promise<OperatorChannel> {
  const config = loadConfig({ file: text(values, 'config') });
  const fleet = text(values, 'fleet');
  const ttlMs = seconds(values, 'ttl', 120);
  const admin = text(values, 'admin');
  if (admin !== undefined) {
    const secret = loadAdminSecret({ file: text(values, 'secret-file') });
    if (!secret) throw usage('--admin needs the admin secret: --secret-file F or the environment variable GOVERNOR_ADMIN_SECRET');
    return adminChannel({ adminUrl: admin, secret, fleet, region });
  }
  if (values['secret-file'] !== undefined) throw usage('--secret-file goes with --admin URL');
  if (config.cloud.adapter !== 'local') {
    throw usage(`the cloud command channel of the ${config.cloud.adapter} adapter is not reachable from this command: use --admin URL`);
  }
  const registry = new LocalRegistry(text(values, 'state-dir') ?? config.stateDir);
  return commandChannel({ registry, fleet: fleet ?? config.fleet, region: region ?? config.region, clock: new RealClock(), ttlMs });
}

function runOf(values: Values, out: (line: string) => void): OperatorRun {
  const clock = new RealClock();
  return { clock, timeoutMs: seconds(values, 'timeout', 900), follow: (event) => out(formatOperatorEvent(event, clock.now())) };
}

function controlSummary(report: ControlReport, out: (line: string) => void): number {
  const answered = report.results.filter((r) => ['accepted', 'superseded'].includes(parseOutcome(r.outcome).status)).length;
  const word = report.paused ? 'Stop! (paused)' : 'Go! (resumed)';
  out(`${word}: ${answered} of ${report.results.length} member(s) answered; the others adopt it from their peers`);
  return answered > 0 ? 0 : 1;
}

/** `governor shutdown`, `governor pause`, `governor resume` (#7), for governor/cli.ts's command table. */
export function operatorCliCommands(out: (line: string) => void): Record<'shutdown' | 'pause' | 'resume', OperatorCliCommand> {
  const control = (paused: boolean): OperatorCliCommand => ({
    summary: paused
      ? "Stop!: every governor of the region stops scaling decisions (serving continues)"
      : 'Go!: every governor of the region resumes scaling decisions',
    usage: `governor ${paused ? 'pause' : 'resume'} --region REGION ${CHANNEL_USAGE}`,
    options: { ...CHANNEL_OPTIONS, region: { type: 'string' } },
    async run(values) {
      const region = text(values, 'region');
      if (region === undefined) throw usage('--region REGION is required');
      const channel = await openChannel(values, region);
      return controlSummary(await setRegionControl(channel, paused, runOf(values, out)), out);
    },
  });
  return {
    shutdown: {
      summary: 'take an instance, or a region one at a time, out by a controlled shutdown, and follow it',
      usage: `governor shutdown (--instance ID | --region REGION) [--including-last] [--reason TEXT] [--timeout SECONDS] ${CHANNEL_USAGE}`,
      options: {
        ...CHANNEL_OPTIONS,
        instance: { type: 'string' },
        region: { type: 'string' },
        'including-last': { type: 'boolean' },
        reason: { type: 'string' },
        timeout: { type: 'string' },
      },
      async run(values) {
        const instanceId = text(values, 'instance');
        const region = text(values, 'region');
        if ((instanceId === undefined) === (region === undefined)) throw usage('give exactly one of --instance ID or --region REGION');
        const channel = await openChannel(values, region);
        const ask = { ...runOf(values, out), includingLast: values['including-last'] === true, reason: text(values, 'reason') };
        if (instanceId !== undefined) {
          const report = await shutdownInstance(channel, { ...ask, instanceId });
          out(`${report.instanceId} is gone`);
          return 0;
        }
        const report = await shutdownRegion(channel, ask);
        const taken = report.taken.map((t) => t.instanceId).join(', ') || 'none';
        out(`region ${channel.region}: took out ${taken}${report.kept ? `; kept ${report.kept} (paused: run governor resume to let it scale)` : ''}`);
        return 0;
      },
    },
    pause: control(true),
    resume: control(false),
  };
}
