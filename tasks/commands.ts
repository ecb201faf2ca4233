import type { Command, Identity, InstanceInfo } from '../governor/cloud/port.js';
import { journalDue, type JournalMark } from '../governor/coordination.js';
import { describeError } from '../governor/errors.js';
import { adoptPeerControl } from '../governor/operator/control.js';
import { controlThisInstance, shutdownThisInstance } from '../governor/operator/instance-actions.js';
import { outcome, outcomeText, type Outcome } from '../governor/operator/outcome.js';
import type { Task, TaskContext } from '../governor/task.js';
import { FLEET_KEYS } from './fleet.js';

/** Blackboard keys of the commands task. */
export const COMMAND_KEYS = {
  /** {id, kind, outcome, at} of the last command acted on. */
  last: 'commands.last',
  /** Ids of commands for another instance or fleet that were journaled as ignored (newest last, bounded). */
  ignored: 'commands.ignored',
  /** JournalMark of the last journaled readCommands failure. */
  errorMark: 'commands.errorJournaled',
} as const;

const MAX_IGNORED_REMEMBERED = 100;

/** Journals a command that is not for this instance, once per command id. */
function ignore(ctx: TaskContext, me: Identity, cmd: Command): void {
  const seen = ctx.blackboard.get<string[]>(COMMAND_KEYS.ignored) ?? [];
  if (seen.includes(cmd.id)) return;
  ctx.blackboard.set(COMMAND_KEYS.ignored, [...seen, cmd.id].slice(-MAX_IGNORED_REMEMBERED));
  ctx.journal.record({
    kind: 'suppressed',
    name: 'commands',
    reason: `ignored command ${cmd.id} (${cmd.kind}) for instance ${cmd.target} of fleet ${cmd.fleet}: this is ${me.id} of fleet ${me.fleet}`,
    data: { command: { ...cmd } },
  });
}

/** What the command does here; undefined when it must stay open to be retried (the fleet could not be listed). */
async function act(ctx: TaskContext, cmd: Command): Promise<Outcome | undefined> {
  const now = ctx.clock.now();
  const by = `operator (command ${cmd.id})`;
  if (cmd.expiresAt <= now) return outcome('rejected', `expired at ${new Date(cmd.expiresAt).toISOString()}: not acted on`);
  switch (cmd.kind) {
    case 'shutdown': {
      const includingLast = cmd.params?.includingLast ?? false;
      if (typeof includingLast !== 'boolean') {
        return outcome('rejected', `params.includingLast must be true or false, got ${JSON.stringify(includingLast)}`);
      }
      const reason = typeof cmd.params?.reason === 'string' ? cmd.params.reason.slice(0, 200) : 'operator command';
      try {
        return await shutdownThisInstance(ctx, { by, reason, includingLast });
      } catch (err) {
        if (ctx.signal.aborted) throw err;
        ctx.journal.record({
          kind: 'error',
          name: 'commands',
          reason: `command ${cmd.id} (shutdown) not acted on yet, retried next run: ${describeError(err).message}`,
          data: { id: cmd.id, error: describeError(err) },
        });
        return undefined;
      }
    }
    case 'pause':
    case 'resume':
      return controlThisInstance(ctx, cmd.kind === 'pause', cmd.issuedAt, by);
    default:
      return outcome('rejected', `unknown command kind ${JSON.stringify((cmd as { kind: unknown }).kind)}`);
  }
}

async function handle(ctx: TaskContext, me: Identity, cmd: Command): Promise<void> {
  if (cmd.target !== me.id || cmd.fleet !== me.fleet) {
    ignore(ctx, me, cmd);
    return;
  }
  const result = await act(ctx, cmd);
  if (!result) return;
  const text = outcomeText(result);
  ctx.blackboard.set(COMMAND_KEYS.last, { id: cmd.id, kind: cmd.kind, outcome: text, at: ctx.clock.now() });
  ctx.journal.record({
    kind: result.status === 'accepted' ? 'info' : 'suppressed',
    name: 'commands',
    reason: `command ${cmd.id} (${cmd.kind}): ${text}`,
    data: { command: { ...cmd }, outcome: text },
  });
  try {
    await ctx.cloud.ackCommand(cmd.id, text);
  } catch (err) {
    if (ctx.signal.aborted) throw err;
    // acting again is harmless (every action is idempotent): the command is re-read and re-acknowledged
    ctx.journal.record({ kind: 'error', name: 'commands', reason: `acknowledging ${cmd.id} failed: ${describeError(err).message}`, data: { id: cmd.id } });
  }
}

/**
 * Every 2 s: reads the operator's commands addressed to this instance through the Cloud port
 * (the cloud command channel of #7: no inbound port needed), oldest first, acts on each and
 * acknowledges it with its outcome (`<status>: <detail>`, see governor/operator/outcome.ts):
 * - shutdown: a controlled shutdown of this instance, refused for the region's last serving
 *   instance unless params.includingLast is true;
 * - pause / resume: the region's Stop!/Go! (`control.paused`), decided at the command's issuedAt;
 * - an unknown kind, bad params or an expired command: acknowledged as rejected, not acted on.
 * A command for another instance or fleet (the adapter should never return one) is ignored,
 * journaled once and not acknowledged. Then it adopts the newest Stop!/Go! decision its peers
 * publish in their summaries (`fleet.view`), so the region converges and new instances inherit it.
 */
const commands: Task = {
  name: 'commands',
  schedule: '*/2 * * * * *',
  timeoutMs: 1800,
  async run(ctx: TaskContext) {
    const bb = ctx.blackboard;
    const me = await ctx.cloud.identity();
    let open: Command[] = [];
    try {
      open = await ctx.cloud.readCommands();
      bb.delete(COMMAND_KEYS.errorMark);
    } catch (err) {
      if (ctx.signal.aborted) throw err;
      const { message } = describeError(err);
      if (journalDue(bb.get<JournalMark>(COMMAND_KEYS.errorMark), message, ctx.clock.now())) {
        bb.set(COMMAND_KEYS.errorMark, { code: message, at: ctx.clock.now() } satisfies JournalMark);
        ctx.journal.record({ kind: 'error', name: 'commands', reason: `readCommands failed: ${message}`, data: { error: describeError(err) } });
      }
    }
    for (const cmd of open) {
      ctx.signal.throwIfAborted();
      await handle(ctx, me, cmd);
    }
    const view = bb.get<InstanceInfo[]>(FLEET_KEYS.view);
    if (view) adoptPeerControl(bb, ctx.journal, me.id, view);
  },
};

export default commands;
