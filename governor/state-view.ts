import { LocalRegistry } from './cloud/registry.js';
import type { GovernorConfig } from './config-types.js';
import type { InstanceInfo } from './cloud/port.js';

/** One row of `governor state`: a member by rank, with what its admin API says when reachable. */
export interface FleetRow {
  rank: number;
  id: string;
  state: InstanceInfo['state'];
  launchTime: number;
  busy1m?: number;
  queueDepth?: number;
  queueWaitP95Ms?: number;
  rps?: number;
  admin?: string;
  /** From the instance's /state: intents in force and failing tasks. */
  intents?: string[];
  failingTasks?: string[];
  unreachable?: string;
}

export interface FleetState {
  fleet: string;
  region: string;
  instances: FleetRow[];
}

const STATE_TIMEOUT_MS = 1500;

interface StateResponse {
  values: Record<string, unknown>;
}

async function readState(adminUrl: string): Promise<StateResponse> {
  const res = await fetch(new URL('/state', adminUrl), { signal: AbortSignal.timeout(STATE_TIMEOUT_MS) });
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  return (await res.json()) as StateResponse;
}

/** Reads the local registry and each member's /state (members that do not answer are marked unreachable). */
export async function fetchFleetState(stateDir: string, config: GovernorConfig): Promise<FleetState> {
  const records = await new LocalRegistry(stateDir).list(config.fleet, config.region);
  const ranked = [...records].sort((a, b) => a.launchTime - b.launchTime || a.id.localeCompare(b.id));
  const instances = await Promise.all(
    ranked.map(async (r, rank): Promise<FleetRow> => {
      const row: FleetRow = {
        rank,
        id: r.id,
        state: r.state,
        launchTime: r.launchTime,
        busy1m: r.summary?.busy1m,
        queueDepth: r.summary?.queueDepth,
        queueWaitP95Ms: r.summary?.queueWaitP95Ms,
        rps: r.summary?.rps,
        admin: r.endpoints?.admin,
      };
      if (!r.endpoints?.admin) return row;
      try {
        const { values } = await readState(r.endpoints.admin);
        row.intents = Object.keys(values)
          .filter((k) => k.startsWith('intents.'))
          .map((k) => k.slice('intents.'.length));
        row.failingTasks = Object.entries(values)
          .filter(([k, v]) => k.startsWith('tasks.') && (v as { outcome?: string }).outcome !== 'ok')
          .filter(([, v]) => (v as { outcome?: string }).outcome !== 'running')
          .map(([k]) => k.slice('tasks.'.length));
      } catch (e) {
        row.unreachable = (e as Error).message;
      }
      return row;
    }),
  );
  return { fleet: config.fleet, region: config.region, instances };
}

const pct = (v?: number) => (v === undefined ? '-' : `${(v * 100).toFixed(0)}%`);
const num = (v?: number, digits = 0) => (v === undefined ? '-' : v.toFixed(digits));

function age(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  return `${(s / 3600).toFixed(1)}h`;
}

/** A human table of the fleet, oldest first. */
export function formatFleetState(state: FleetState, now: number): string {
  const header = ['rank', 'instance', 'state', 'age', 'busy', 'queue', 'wait p95', 'rps', 'intents / notes'];
  const rows = state.instances.map((r) => [
    String(r.rank),
    r.id,
    r.state,
    age(now - r.launchTime),
    pct(r.busy1m),
    num(r.queueDepth),
    r.queueWaitP95Ms === undefined ? '-' : `${num(r.queueWaitP95Ms)}ms`,
    num(r.rps, 1),
    r.unreachable
      ? `unreachable: ${r.unreachable}`
      : [...(r.intents ?? []), ...(r.failingTasks ?? []).map((t) => `task ${t} failing`)].join(', '),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd();
  return [
    `fleet ${state.fleet} in ${state.region}: ${state.instances.length} instance(s)`,
    line(header),
    ...rows.map(line),
  ].join('\n');
}
