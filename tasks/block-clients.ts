import { blockableClients, isBlockableAddress, isLoopbackAddress, plainAddress } from '../governor/client-addresses.js';
import { describeError } from '../governor/errors.js';
import { currentIntent, journalOnce } from '../governor/intent-action.js';
import type { ParamSpec } from '../governor/intent-params.js';
import type { Task, TaskContext } from '../governor/task.js';
import type { ProxySample } from '../proxy/types.js';
import { SIGNAL_KEYS } from './signals.js';

/** The params a `block-client` rule event may carry (rules/denial-of-service.json). */
export const BLOCK_PARAMS = {
  /** How long an address stays on the proxy's denylist. */
  durationSeconds: { default: 600, min: 1, max: 86_400, integer: true, unit: 'seconds' },
  /** At most this many addresses are blocked per run (the busiest first). */
  maxAddresses: { default: 3, min: 1, max: 100, integer: true, unit: 'addresses' },
  /** An address is blocked only if it sent at least this fraction of the latest sample's requests. */
  minShare: { default: 0.1, min: 0, max: 1, unit: 'fraction of requests' },
} satisfies ParamSpec;

type Client = ProxySample['topClients'][number];

const pct = (fraction: number) => `${Math.round(fraction * 100)}%`;

/**
 * The addresses to block in `sample`: among its busiest addresses that are blockable (not
 * loopback, an IP) and not in `blocked`, the first `maxAddresses`, of those each that sent at
 * least `minShare` of the requests.
 */
export function addressesToBlock(sample: ProxySample, blocked: ReadonlySet<string>, p: { maxAddresses: number; minShare: number }): Client[] {
  if (sample.requests <= 0) return [];
  return blockableClients(sample, blocked)
    .slice(0, p.maxAddresses)
    .filter((c) => c.requests / sample.requests >= p.minShare);
}

/** Why none of the sample's busiest addresses is blocked: "127.0.0.1 is loopback; 10.0.0.7 sent 4% (< 10%)". */
function whyNone(sample: ProxySample, blocked: ReadonlySet<string>, minShare: number): string {
  const busiest = sample.topClients.slice(0, 3);
  if (sample.requests <= 0 || busiest.length === 0) return 'the latest sample has no requests';
  return busiest
    .map(({ address, requests }) => {
      if (isLoopbackAddress(address)) return `${address} is loopback (the proxy does not see the real client address)`;
      if (!isBlockableAddress(address)) return `${address} is not an IP address`;
      if (blocked.has(plainAddress(address))) return `${address} is already blocked`;
      return `${address} sent ${pct(requests / sample.requests)} (< ${pct(minShare)})`;
    })
    .join('; ');
}

/**
 * Acts on `intents.block-client` (rules/denial-of-service.json): puts the addresses that carry
 * most of the latest sample's traffic on the proxy's denylist for `durationSeconds` (see
 * addressesToBlock). Never blocks loopback or a non-IP address, never extends or lifts a block
 * in force (nothing is unblocked early; an address still attacking when its block expires is
 * blocked again by the next intent). Journal: one kind 'action' per address blocked, with the
 * intent's facts, the address's requests and share, and the expiry; a block the proxy refuses
 * as kind 'error'; nothing to block, blocking unavailable (no proxy, or a proxy without a
 * denylist) and dry runs once a minute at most while the intent stays. Blocking is not a scaling
 * decision: it also runs while the region is paused. Each instance blocks on its own proxy.
 */
const blockClients: Task = {
  name: 'block-clients',
  schedule: '*/1 * * * * *',
  timeoutMs: 900,
  run(ctx: TaskContext) {
    const current = currentIntent(ctx, 'block-client', BLOCK_PARAMS);
    if (!current) return;
    const { intent, params } = current;
    const { proxy } = ctx;
    const why = `rule '${intent.rule}' (${intent.file})`;
    const suppress = (code: string, reason: string, data: Record<string, unknown> = {}) =>
      journalOnce(ctx, code, { kind: 'suppressed', name: ctx.name, reason: `no block: ${reason}; ${why}`, facts: intent.facts, data });

    if (!proxy?.block || !proxy.blocked) {
      return suppress('unavailable', `blocking is unavailable: ${proxy ? 'the proxy has no denylist' : 'no proxy in this governor'}`);
    }
    const sample = ctx.blackboard.get<ProxySample>(SIGNAL_KEYS.sample);
    if (!sample) return suppress('no-sample', 'the proxy has not been sampled yet');
    const blocked = new Set(proxy.blocked().map((b) => plainAddress(b.address)));
    const chosen = addressesToBlock(sample, blocked, params);
    if (chosen.length === 0) {
      return suppress('nothing-to-block', whyNone(sample, blocked, params.minShare), { topClients: sample.topClients.slice(0, 3), requests: sample.requests });
    }
    const now = ctx.clock.now();
    const untilMs = now + params.durationSeconds * 1000;
    const until = new Date(untilMs).toISOString();
    for (const { address, requests } of chosen) {
      const share = requests / sample.requests;
      const facts = { ...intent.facts, address, requests, sampleRequests: sample.requests, share };
      const what = `${address}: it sent ${requests} of ${sample.requests} requests (${pct(share)}) in the last second`;
      if (ctx.config.scaling.dryRun) {
        journalOnce(ctx, 'dry-run', { kind: 'action', name: ctx.name, reason: `dry run, not blocking ${what}; ${why}`, facts, data: { dryRun: true, address } });
        continue;
      }
      try {
        proxy.block(address, untilMs, `denial of service: ${pct(share)} of requests; rule ${intent.rule}`);
        ctx.journal.record({
          kind: 'action',
          name: ctx.name,
          reason: `blocked ${what}, until ${until} (${params.durationSeconds} s); ${why}`,
          facts,
          data: { address, untilMs, durationSeconds: params.durationSeconds, rule: intent.rule, file: intent.file },
        });
      } catch (err) {
        const error = describeError(err);
        ctx.journal.record({ kind: 'error', name: ctx.name, reason: `block of ${address} failed: ${error.message}; ${why}`, facts, data: { address, error } });
      }
    }
  },
};

export default blockClients;
