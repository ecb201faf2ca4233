import { randomBytes } from 'node:crypto';

/** A new instance id: `i-` and 12 random hex digits (the shape of an EC2 id, unique in practice). */
export function newInstanceId(): string {
  return `i-${randomBytes(6).toString('hex')}`;
}

/** A new operator command id: `cmd-` and 12 random hex digits. */
export function newCommandId(): string {
  return `cmd-${randomBytes(6).toString('hex')}`;
}
