import type { Logger } from 'pino';
import type { BlackboardApi } from './blackboard-types.js';
import type { Clock } from './clock.js';
import type { JournalApi, JournalEntry, JournalKind, JournalQuery } from './journal-types.js';

export interface JournalOptions {
  clock: Clock;
  /** When given: `journal.recent` holds the newest RECENT_ENTRIES entries, `journal.count` the total. */
  blackboard?: BlackboardApi;
  /** When given: every entry is logged (warn for kind 'error', info otherwise). */
  log?: Logger;
  /** Entries kept (default 1000); older ones are dropped. */
  capacity?: number;
}

/** How many of the newest entries are mirrored to the blackboard key `journal.recent`. */
export const RECENT_ENTRIES = 50;

const KINDS: readonly JournalKind[] = ['intent', 'action', 'suppressed', 'error', 'rules', 'info'];

/**
 * The decision journal (see JournalApi): a bounded ring of frozen entries.
 * `journal.count` on the blackboard is the number of entries ever recorded (= the last seq).
 */
export class Journal implements JournalApi {
  private readonly clock: Clock;
  private readonly blackboard?: BlackboardApi;
  private readonly log?: Logger;
  private readonly capacity: number;
  /** Ring of the newest `capacity` entries; `next` is the slot of the next write. */
  private readonly ring: JournalEntry[] = [];
  private next = 0;
  private seq = 0;

  constructor(opts: JournalOptions) {
    this.clock = opts.clock;
    this.blackboard = opts.blackboard;
    this.log = opts.log;
    this.capacity = opts.capacity ?? 1000;
    if (!Number.isInteger(this.capacity) || this.capacity < 1) {
      throw new RangeError(`journal capacity must be a positive integer, got ${String(opts.capacity)}`);
    }
  }

  record(input: Omit<JournalEntry, 'seq' | 'at'>): JournalEntry {
    if (!KINDS.includes(input.kind)) {
      throw new TypeError(`journal kind must be one of ${KINDS.join(', ')}, got ${JSON.stringify(input.kind)}`);
    }
    const entry: JournalEntry = Object.freeze({ ...input, seq: ++this.seq, at: this.clock.now() });
    this.ring[this.next] = entry;
    this.next = (this.next + 1) % this.capacity;

    if (this.log) {
      const line = { journal: entry };
      const msg = `${entry.kind} ${entry.name}: ${entry.reason}`;
      if (entry.kind === 'error') this.log.warn(line, msg);
      else this.log.info(line, msg);
    }
    if (this.blackboard) {
      this.blackboard.set('journal.recent', this.newest(RECENT_ENTRIES));
      this.blackboard.set('journal.count', this.seq);
    }
    return entry;
  }

  query(q: JournalQuery = {}): JournalEntry[] {
    const limit = q.limit ?? 100;
    if (!Number.isInteger(limit) || limit < 0) {
      throw new RangeError(`journal query limit must be a non-negative integer, got ${String(q.limit)}`);
    }
    const matching = this.inOrder().filter(
      (e) =>
        (q.since === undefined || e.seq > q.since) &&
        (q.kind === undefined || e.kind === q.kind) &&
        (q.name === undefined || e.name === q.name),
    );
    return limit === 0 ? [] : matching.slice(-limit);
  }

  /** Held entries, oldest first. */
  private inOrder(): JournalEntry[] {
    if (this.ring.length < this.capacity) return [...this.ring];
    return [...this.ring.slice(this.next), ...this.ring.slice(0, this.next)];
  }

  private newest(n: number): JournalEntry[] {
    const held = this.ring.length;
    const out: JournalEntry[] = [];
    for (let i = Math.max(0, held - n); i < held; i++) {
      out.push(this.ring[(this.next - held + i + 2 * this.capacity) % this.capacity]);
    }
    return out;
  }
}
