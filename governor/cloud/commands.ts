import { rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Clock } from '../clock.js';
import { GovError } from '../errors.js';
import { createJsonExclusive, listJsonFiles, readJson, writeJsonAtomic } from './atomic-file.js';
import type { Command, Identity } from './port.js';
import { checkCommand, checkId } from './port-input.js';

/** What is left of a command once it was acknowledged or expired (kept as history). */
export interface CommandAck {
  command: Command;
  /** The target's report, or 'expired' when nobody acknowledged it in time. */
  outcome: string;
  /** The acknowledging instance; absent for an expired command. */
  ackedBy?: string;
  at: number;
}

export const EXPIRED_OUTCOME = 'expired';
const MAX_OUTCOME_LENGTH = 512;

/**
 * Operator commands kept as files: `<commandsDir>/<id>.json` while open, then
 * `<acksDir>/<id>.json` once acknowledged or expired. Contract: a command is delivered only to
 * its target instance in its fleet, only until `expiresAt`, oldest first; an acknowledgement is
 * recorded before the command is removed, so a crash in between loses nothing.
 */
export class CommandStore {
  constructor(
    private readonly commandsDir: string,
    private readonly acksDir: string,
    private readonly clock: Clock,
    private readonly onCorrupt: (path: string, error: string) => void,
  ) {}

  /** Files a new command (validated); an id already used is refused. */
  async write(cmd: Command): Promise<Command> {
    const command = checkCommand(cmd);
    if (!(await createJsonExclusive(this.commandPath(command.id), command))) {
      throw new GovError('GOV_ERR_CLOUD_BAD_REQUEST', `command id ${command.id} is already used`, { id: command.id });
    }
    return command;
  }

  /** Unexpired commands for `me`, oldest first. Expired commands met on the way (anyone's) move to history. */
  async readFor(me: Identity): Promise<Command[]> {
    const now = this.clock.now();
    const mine: Command[] = [];
    for (const command of await this.readOpen()) {
      if (command.expiresAt <= now) await this.close(command, { outcome: EXPIRED_OUTCOME, at: now });
      else if (command.target === me.id && command.fleet === me.fleet) mine.push(command);
    }
    return mine.sort((a, b) => a.issuedAt - b.issuedAt || a.id.localeCompare(b.id));
  }

  /** Records `outcome` for a command addressed to `me` and removes it; acknowledging twice is harmless. */
  async ack(me: Identity, id: string, outcome: string): Promise<void> {
    checkId('command id', id);
    if (typeof outcome !== 'string' || outcome.length === 0 || outcome.length > MAX_OUTCOME_LENGTH) {
      throw new GovError('GOV_ERR_CLOUD_BAD_REQUEST', `outcome must be a non-empty string of at most ${MAX_OUTCOME_LENGTH} characters`, {
        field: 'outcome',
        value: outcome,
      });
    }
    const open = await this.readCommand(this.commandPath(id));
    if (open?.target === me.id && open.fleet === me.fleet) {
      await this.close(open, { outcome, ackedBy: me.id, at: this.clock.now() });
      return;
    }
    const acked = await readJson(join(this.acksDir, `${id}.json`));
    const closed = acked.kind === 'ok' ? (acked.value as CommandAck) : undefined;
    if (closed?.command?.target === me.id && closed.ackedBy === me.id) return;
    throw new GovError('GOV_ERR_CLOUD_NOT_FOUND', `no open command ${id} for instance ${me.id}`, { id, instance: me.id });
  }

  /** Acknowledged and expired commands, oldest acknowledgement first. */
  async history(): Promise<CommandAck[]> {
    const acks: CommandAck[] = [];
    for (const name of await listJsonFiles(this.acksDir)) {
      const read = await readJson(join(this.acksDir, name));
      if (read.kind === 'ok') acks.push(read.value as CommandAck);
      else if (read.kind === 'corrupt') this.onCorrupt(join(this.acksDir, name), read.error);
    }
    return acks.sort((a, b) => a.at - b.at);
  }

  private commandPath(id: string): string {
    return join(this.commandsDir, `${id}.json`);
  }

  private async readOpen(): Promise<Command[]> {
    const commands: Command[] = [];
    for (const name of await listJsonFiles(this.commandsDir)) {
      const command = await this.readCommand(join(this.commandsDir, name));
      if (command) commands.push(command);
    }
    return commands;
  }

  /** The command in `path`; undefined when missing, or unreadable (reported to onCorrupt). */
  private async readCommand(path: string): Promise<Command | undefined> {
    const read = await readJson(path);
    if (read.kind === 'missing') return undefined;
    if (read.kind === 'corrupt') {
      this.onCorrupt(path, read.error);
      return undefined;
    }
    try {
      const command = checkCommand(read.value as Command);
      if (`${command.id}.json` !== basename(path)) throw new Error(`holds command ${command.id}`);
      return command;
    } catch (err) {
      this.onCorrupt(path, (err as Error).message);
      return undefined;
    }
  }

  private async close(command: Command, ack: Omit<CommandAck, 'command'>): Promise<void> {
    await writeJsonAtomic(join(this.acksDir, `${command.id}.json`), { command, ...ack });
    await rm(this.commandPath(command.id), { force: true });
  }
}
